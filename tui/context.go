package tui

import "time"

// programContext is what every pane may read of the program, and all it
// gets of it: the look, the keymap, the terminal size, the clock, and the
// two settings panes show (the root, the sampling period). Panes never see
// the root model: each keeps its own state in its own struct, is handed
// this context and the container it shows (or the list, the containers),
// and tells the root what it wants done (an intent) instead of doing it.
//
// The root builds it for each Update and View from its own fields (it is
// a handful of words: the styles and keys by pointer), so a pane can
// never read a stale size or clock, and the whole frame is drawn at one
// instant (Now).
type programContext struct {
	Styles        *styles
	Keys          *keyMap
	Width, Height int // of the terminal
	Now           time.Time
	Location      *time.Location // times are shown in it
	Root          string         // the state root followed
	SampleEvery   time.Duration  // the resource sampling period
}

// context is the shared context of this instant.
func (m *Model) context() *programContext {
	return &programContext{
		Styles: &m.styles, Keys: &m.keys,
		Width: m.width, Height: m.height,
		Now: m.opts.Now(), Location: m.opts.Location,
		Root: m.opts.Root, SampleEvery: m.opts.SampleEvery,
	}
}

// Screen layout, top to bottom: header (1 line), body (the list, a detail
// tab, the bundle picker or the help), the dialog line, the status bar and
// the key bar.
const chromeLines = 4

// bodyHeight is the number of lines between the header and the dialog line.
func (c *programContext) bodyHeight() int { return max(3, c.Height-chromeLines) }

// serialPage is how many console lines the Serial tab shows.
func (c *programContext) serialPage() int { return max(1, c.bodyHeight()-4) }

// intent is what a pane asks of the root after a key or an answer: the
// pane changes only its own state; the screen, the dialog line and the
// status bar belong to the root, which applies the intent (Model.apply).
// The zero intent asks nothing.
type intent struct {
	status    string // a message for the status bar ("" : leave it)
	statusErr bool
	open      string // show this container in the detail view...
	tab       int    // ... on this tab (-1: the tab shown last)
	back      bool   // leave the detail view for the list
	ask       *inputRequest
	pendingG  bool // the first g of gg: the next key may complete it
	attach    bool // send keys to the guest's console (the Serial tab)
}

// inputRequest asks the root to open a text input on the dialog line.
type inputRequest struct {
	kind          dialogKind
	target        string
	prompt, value string
}

func say(text string) intent            { return intent{status: text} }
func sayErr(text string) intent         { return intent{status: text, statusErr: true} }
func openTab(id string, tab int) intent { return intent{open: id, tab: tab} }
