package tui

import (
	"github.com/charmbracelet/lipgloss"

	"github.com/urunc-dev/urunc/runtime/state"
)

// styles is shared by every pane. Colours are adaptive: each has a light
// and a dark variant, picked from the terminal's background, so the
// console stays readable on both (and the selection is reverse video,
// which works everywhere).
type styles struct {
	Title, Header, Selected, Dim, Error, Warn, OK, Accent                lipgloss.Style
	TabActive, TabInactive, Match, CurMatch, StatusOK, StatusErr, Dialog lipgloss.Style
	Attached                                                             lipgloss.Style
}

func defaultStyles() styles {
	accent := lipgloss.AdaptiveColor{Light: "#005f87", Dark: "#5fafff"}
	dim := lipgloss.AdaptiveColor{Light: "#5f5f5f", Dark: "#9e9e9e"}
	red := lipgloss.AdaptiveColor{Light: "#af0000", Dark: "#ff5f5f"}
	yellow := lipgloss.AdaptiveColor{Light: "#875f00", Dark: "#ffd75f"}
	green := lipgloss.AdaptiveColor{Light: "#005f00", Dark: "#87d787"}
	matchBg := lipgloss.AdaptiveColor{Light: "#ffd75f", Dark: "#875f00"}
	return styles{
		Title:       lipgloss.NewStyle().Bold(true).Foreground(accent),
		Header:      lipgloss.NewStyle().Bold(true),
		Selected:    lipgloss.NewStyle().Reverse(true),
		Dim:         lipgloss.NewStyle().Foreground(dim),
		Error:       lipgloss.NewStyle().Bold(true).Foreground(red),
		Warn:        lipgloss.NewStyle().Bold(true).Foreground(yellow),
		OK:          lipgloss.NewStyle().Foreground(green),
		Accent:      lipgloss.NewStyle().Foreground(accent),
		TabActive:   lipgloss.NewStyle().Bold(true).Reverse(true),
		TabInactive: lipgloss.NewStyle().Foreground(dim),
		Match:       lipgloss.NewStyle().Background(matchBg),
		CurMatch:    lipgloss.NewStyle().Reverse(true).Bold(true),
		StatusOK:    lipgloss.NewStyle().Foreground(green),
		StatusErr:   lipgloss.NewStyle().Bold(true).Foreground(red),
		Dialog:      lipgloss.NewStyle().Bold(true).Foreground(accent),
		Attached:    lipgloss.NewStyle().Bold(true).Reverse(true).Foreground(yellow),
	}
}

// status colours a container status.
func (s styles) status(st state.Status) lipgloss.Style {
	switch st {
	case state.Running:
		return s.OK
	case state.Stopped, statusDeleted:
		return s.Dim
	case state.Creating, state.Paused:
		return s.Warn
	}
	return lipgloss.NewStyle()
}
