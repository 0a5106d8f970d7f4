package tui

import "github.com/charmbracelet/lipgloss"

// styles uses adaptive colours: readable on light and dark terminals.
type styles struct {
	Title, Header, Selected, Dim, Error, Warn, OK, TabActive, TabInactive, Box, Match, Status lipgloss.Style
}

func defaultStyles() styles {
	accent := lipgloss.AdaptiveColor{Light: "#005f87", Dark: "#5fafff"}
	dim := lipgloss.AdaptiveColor{Light: "#6c6c6c", Dark: "#9e9e9e"}
	red := lipgloss.AdaptiveColor{Light: "#af0000", Dark: "#ff5f5f"}
	yellow := lipgloss.AdaptiveColor{Light: "#875f00", Dark: "#ffd75f"}
	green := lipgloss.AdaptiveColor{Light: "#005f00", Dark: "#87d787"}
	return styles{
		Title:       lipgloss.NewStyle().Bold(true).Foreground(accent),
		Header:      lipgloss.NewStyle().Bold(true).Underline(true),
		Selected:    lipgloss.NewStyle().Reverse(true),
		Dim:         lipgloss.NewStyle().Foreground(dim),
		Error:       lipgloss.NewStyle().Bold(true).Foreground(red),
		Warn:        lipgloss.NewStyle().Bold(true).Foreground(yellow),
		OK:          lipgloss.NewStyle().Foreground(green),
		TabActive:   lipgloss.NewStyle().Bold(true).Reverse(true).Padding(0, 1),
		TabInactive: lipgloss.NewStyle().Padding(0, 1),
		Box:         lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1),
		Match:       lipgloss.NewStyle().Reverse(true).Bold(true),
		Status:      lipgloss.NewStyle().Bold(true),
	}
}

// statusStyle colours a container status.
func (s styles) statusStyle(status string) lipgloss.Style {
	switch status {
	case "running":
		return s.OK
	case "stopped":
		return s.Dim
	case "creating", "paused":
		return s.Warn
	}
	return lipgloss.NewStyle()
}
