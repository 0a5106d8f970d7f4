package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every binding; help renders from it.
type keyMap struct {
	Up, Down, Enter, Back, Filter, Sort        key.Binding
	Start, Kill, Delete, Pause, Create         key.Binding
	NextTab, PrevTab, Follow, Bottom, Top      key.Binding
	PageUp, PageDown, Search, NextHit, PrevHit key.Binding
	Help, Quit                                 key.Binding
}

func defaultKeys() keyMap {
	return keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Enter:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter / search")),
		Sort:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Start:    key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "start")),
		Kill:     key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "kill")),
		Delete:   key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "delete")),
		Pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume")),
		Create:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "create")),
		NextTab:  key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next tab")),
		PrevTab:  key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "prev tab")),
		Follow:   key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "follow")),
		Bottom:   key.NewBinding(key.WithKeys("G"), key.WithHelp("G", "bottom")),
		Top:      key.NewBinding(key.WithKeys("g"), key.WithHelp("gg", "top")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Search:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search")),
		NextHit:  key.NewBinding(key.WithKeys("n"), key.WithHelp("n/N", "next/prev match")),
		PrevHit:  key.NewBinding(key.WithKeys("N")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// listHelp is the key bar of the container list.
func (k keyMap) listHelp() []key.Binding {
	return []key.Binding{k.Enter, k.Create, k.Start, k.Kill, k.Delete, k.Pause, k.Filter, k.Sort, k.Help, k.Quit}
}

// detailHelp is the key bar of the detail view.
func (k keyMap) detailHelp() []key.Binding {
	return []key.Binding{k.Back, k.NextTab, k.Start, k.Kill, k.Delete, k.Pause, k.Follow, k.Search, k.Help, k.Quit}
}

// fullHelp is the ? overlay.
func (k keyMap) fullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Enter, k.Back, k.Filter, k.Sort, k.Help, k.Quit},
		{k.Create, k.Start, k.Kill, k.Delete, k.Pause},
		{k.NextTab, k.PrevTab, k.Follow, k.Bottom, k.Top, k.PageUp, k.PageDown, k.Search, k.NextHit},
	}
}
