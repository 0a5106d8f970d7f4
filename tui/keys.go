package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every binding of the console; the key bar and the ?
// overlay are rendered from it, so what is shown is what works.
type keyMap struct {
	// Everywhere.
	Help, Quit, Back key.Binding
	// List.
	Up, Down, Enter, Filter, Sort, Tabs key.Binding
	// Actions on the selected container (list and detail).
	Create, Start, Kill, Delete, Pause, Dismiss, Rerun, Debug key.Binding
	// Detail.
	NextTab, PrevTab, PrevRun, NextRun key.Binding
	// Serial tab.
	Follow, Bottom, Top, PageUp, PageDown, Search, NextHit, PrevHit, Attach, Detach key.Binding
	// Dialogs.
	Confirm, Cancel, ToggleStart, CycleGDB key.Binding
	SigTerm, SigKill, SigInt, SigHup       key.Binding
}

func defaultKeys() keyMap {
	b := func(keys []string, k, help string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, help))
	}
	return keyMap{
		Help: b([]string{"?"}, "?", "help"),
		Quit: b([]string{"q", "ctrl+c"}, "q", "quit"),
		Back: b([]string{"esc"}, "esc", "back"),

		Up:     b([]string{"up", "k"}, "↑/k", "up"),
		Down:   b([]string{"down", "j"}, "↓/j", "down"),
		Enter:  b([]string{"enter"}, "enter", "details"),
		Filter: b([]string{"/"}, "/", "filter"),
		Sort:   b([]string{"s"}, "s", "sort column"),
		Tabs:   b([]string{"1", "2", "3", "4"}, "1-4", "tab"),

		Create: b([]string{"c"}, "c", "create"),
		Start:  b([]string{"S"}, "S", "start"),
		Kill:   b([]string{"K"}, "K", "kill"),
		Delete: b([]string{"D"}, "D", "delete"),
		Pause:  b([]string{"p"}, "p", "pause/resume"),
		// A deleted container's record goes.
		Dismiss: b([]string{"x"}, "x", "dismiss deleted"),
		Rerun:   b([]string{"R"}, "R", "rerun"),
		Debug:   b([]string{"d"}, "d", "gdb"),

		NextTab: b([]string{"tab"}, "tab", "next tab"),
		PrevTab: b([]string{"shift+tab"}, "shift+tab", "previous tab"),
		PrevRun: b([]string{"["}, "[", "prev run"),
		NextRun: b([]string{"]"}, "]", "next run"),

		Follow:   b([]string{"f"}, "f", "follow"),
		Bottom:   b([]string{"G", "end"}, "G", "tail"),
		Top:      b([]string{"g", "home"}, "gg", "top"),
		PageUp:   b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+f", " "}, "pgdn", "page down"),
		Search:   b([]string{"/"}, "/", "search"),
		NextHit:  b([]string{"n"}, "n", "next match"),
		PrevHit:  b([]string{"N"}, "N", "previous match"),
		Attach:   b([]string{"a"}, "a", "attach"),
		Detach:   b([]string{"ctrl+]"}, "ctrl+]", "detach"),

		Confirm:     b([]string{"y", "Y"}, "y", "yes"),
		Cancel:      b([]string{"esc", "n", "N", "q"}, "esc", "cancel"),
		ToggleStart: b([]string{"tab"}, "tab", "start after create on/off"),
		CycleGDB:    b([]string{"g"}, "g", "gdb stub off/on/wait"),
		SigTerm:     b([]string{"t", "T"}, "t", "TERM"),
		SigKill:     b([]string{"k", "K"}, "k", "KILL"),
		SigInt:      b([]string{"i", "I"}, "i", "INT"),
		SigHup:      b([]string{"h", "H"}, "h", "HUP"),
	}
}

// listBar is the key bar under the container list.
func (k keyMap) listBar() []key.Binding {
	return []key.Binding{k.Enter, k.Create, k.Start, k.Kill, k.Delete, k.Pause, k.Rerun, k.Filter, k.Sort, k.Help, k.Quit}
}

// detailBar is the key bar under a detail tab.
func (k keyMap) detailBar(tab int) []key.Binding {
	if tab == tabSerial {
		return []key.Binding{k.Back, k.NextTab, k.Attach, k.Follow, k.Bottom, k.Top, k.Search, k.NextHit, k.PrevHit, k.Help, k.Quit}
	}
	return []key.Binding{k.Back, k.NextTab, k.Tabs, k.Start, k.Kill, k.Delete, k.Rerun, k.PrevRun, k.NextRun, k.Help, k.Quit}
}

// fullHelp is the ? overlay, one column per context.
func (k keyMap) fullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Enter, k.Filter, k.Sort, k.Back, k.Help, k.Quit},
		{k.Create, k.Start, k.Kill, k.Delete, k.Pause, k.Dismiss, k.Rerun, k.Debug},
		{k.NextTab, k.PrevTab, k.Tabs, k.PrevRun, k.NextRun},
		{k.Follow, k.Bottom, k.Top, k.PageUp, k.PageDown, k.Search, k.NextHit, k.PrevHit, k.Attach, k.Detach},
	}
}
