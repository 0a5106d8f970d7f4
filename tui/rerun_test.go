package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// runCmds runs the commands a batch holds, each in its own goroutine as
// Bubble Tea does, and returns the first message matching keep within
// a few seconds (the others may block: a watcher waiting for a change).
func runCmds(t *testing.T, cmd tea.Cmd, keep func(tea.Msg) bool) tea.Msg {
	t.Helper()
	out := make(chan tea.Msg, 16)
	var run func(tea.Cmd)
	run = func(c tea.Cmd) {
		if c == nil {
			return
		}
		go func() {
			msg := c()
			if b, ok := msg.(tea.BatchMsg); ok {
				for _, c := range b {
					run(c)
				}
				return
			}
			out <- msg
		}()
	}
	run(cmd)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-out:
			if keep(msg) {
				return msg
			}
		case <-deadline:
			t.Fatal("no such message")
		}
	}
}

// rerunFixture is the fixture with a real bundle (the kernel in its
// rootfs; with source, copied from a file the bundle records) and its
// first run, hello-1, shown on the Serial tab.
func rerunFixture(t *testing.T, source bool) (*Model, fix, string, string) {
	t.Helper()
	m, f := fixture(t)
	m.opts.RerunQuiet = 50 * time.Millisecond
	src := filepath.Join(t.TempDir(), "hello.elf")
	os.WriteFile(src, []byte("kernel v1"), 0o755)
	dir := filepath.Join(t.TempDir(), "hello")
	ann := map[string]string{}
	if source {
		ann[AnnotationKernelSource] = src
	}
	if _, err := bundle.Write(bundle.Unikernel{Dir: dir, Kernel: src, Annotate: true, Annotations: ann,
		Config: map[string]string{config.KeyType: "unikraft", config.KeyHypervisor: "qemu"}}); err != nil {
		t.Fatal(err)
	}
	m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "hello-1", State: &state.State{State: specs.State{ID: "hello-1", Status: "running", Bundle: dir}}})
	m.list.selected = "hello-1"
	press(m, "enter", "2")
	return m, f, dir, src
}

func TestRerunOnRebuild(t *testing.T) {
	m, f, dir, _ := rerunFixture(t, false)
	kernel := filepath.Join(dir, "rootfs", "unikernel", "hello.elf")
	msg := press(m, "R")()
	rw, ok := msg.(rerunWatchMsg)
	if !ok || rw.err != nil || len(rw.watched) != 1 || rw.watched[0] != kernel {
		t.Fatalf("watch: %#v", msg)
	}
	_, wait := m.Update(rw)
	defer rw.stop()
	if !strings.Contains(m.View(), "↻ 1 rerun on rebuild") {
		t.Fatal(m.View())
	}
	// A build writes the kernel in several steps: one change.
	fh, _ := os.OpenFile(kernel, os.O_WRONLY|os.O_TRUNC, 0)
	for i := 0; i < 3; i++ {
		fh.WriteString("kernel v2 part ")
		time.Sleep(10 * time.Millisecond)
	}
	fh.Close()
	ch := runCmds(t, wait, func(msg tea.Msg) bool { _, ok := msg.(changeMsg); return ok }).(changeMsg)
	if !ch.ok || len(ch.change.Paths) != 1 {
		t.Fatalf("change %#v", ch)
	}
	_, next := m.Update(ch)
	rr := runCmds(t, next, func(msg tea.Msg) bool { _, ok := msg.(rerunMsg); return ok }).(rerunMsg)
	if rr.err != nil || rr.id != "hello-2" || rr.old != "hello-1" {
		t.Fatalf("rerun %#v", rr)
	}
	data, _ := os.ReadFile(f.calls)
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		calls = append(calls, lastWord(l, 4))
	}
	got := strings.Join(calls[len(calls)-4:], "; ")
	want(t, got, "json kill hello-1 KILL; json delete --force hello-1; create --bundle "+dir+" hello-2; --log-format json start hello-2")
	m.Update(rr)
	// The console follows the new run, on the same tab.
	if m.detail.id != "hello-2" || m.detail.tab != tabSerial || m.list.selected != "hello-2" {
		t.Fatalf("shows %q tab %d, selected %q", m.detail.id, m.detail.tab, m.list.selected)
	}
	m.Update(WatchMsg{Kind: watch.ContainerRemoved, ID: "hello-1"})
	m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "hello-2", State: &state.State{State: specs.State{ID: "hello-2", Status: "running", Bundle: dir}}})
	if c := m.containers["hello-2"]; c.run == nil || c.run.n != 2 || !strings.Contains(m.View(), "run 2: hello.elf changed") {
		t.Fatalf("no run info:\n%s", m.View())
	}
	// Its first console byte completes the account.
	m.opts.Now = time.Now
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "hello-2", Serial: []byte("Hello\n")})
	if v := m.View(); !strings.Contains(v, "run 2: hello.elf changed → first guest byte in ") || !strings.Contains(v, " (settle ") {
		t.Fatal(v)
	}
	// The previous run is one key away, and back.
	press(m, "[")
	if m.detail.id != "hello-1~1" || !strings.Contains(m.status.text, "run 1 of 2: hello-1") {
		t.Fatalf("[: %q %q", m.detail.id, m.status.text)
	}
	press(m, "[")
	want(t, m.status.text, "no earlier run kept")
	press(m, "]")
	want(t, m.detail.id, "hello-2")
	press(m, "]")
	want(t, m.status.text, "this is the newest run")
	// R again stops following the bundle.
	press(m, "R")
	if len(m.reruns) != 0 || !strings.Contains(m.status.text, "no longer rerunning hello") {
		t.Fatalf("still rerunning: %q", m.status.text)
	}
}

// With a recorded source, the source is followed and copied into the
// bundle before the rerun; a change during a rerun makes one more.
func TestRerunFromSource(t *testing.T) {
	m, _, dir, src := rerunFixture(t, true)
	kernel := filepath.Join(dir, "rootfs", "unikernel", "hello.elf")
	rw := press(m, "R")().(rerunWatchMsg)
	defer rw.stop()
	if len(rw.watched) != 1 || rw.watched[0] != src || rw.copies[src] != kernel {
		t.Fatalf("watch %v copies %v", rw.watched, rw.copies)
	}
	_, wait := m.Update(rw)
	os.WriteFile(src+".tmp", []byte("kernel v2"), 0o755)
	os.Rename(src+".tmp", src)
	ch := runCmds(t, wait, func(msg tea.Msg) bool { _, ok := msg.(changeMsg); return ok }).(changeMsg)
	_, next := m.Update(ch)
	// Another change while the rerun runs: remembered, not run at once.
	if _, again := m.Update(changeMsg{bundle: dir, w: rw.w, change: watch.Change{Paths: []string{src}}, ok: true}); again == nil {
		t.Fatal("stopped waiting for changes")
	}
	rr := runCmds(t, next, func(msg tea.Msg) bool { _, ok := msg.(rerunMsg); return ok }).(rerunMsg)
	if b, _ := os.ReadFile(kernel); string(b) != "kernel v2" {
		t.Fatalf("the bundle's kernel: %q", b)
	}
	_, more := m.Update(rr)
	rr3 := runCmds(t, more, func(msg tea.Msg) bool { _, ok := msg.(rerunMsg); return ok }).(rerunMsg)
	if rr3.old != "hello-2" || rr3.id != "hello-3" {
		t.Fatalf("the second rerun: %s -> %s", rr3.old, rr3.id)
	}
	// A source that went missing fails the rerun, saying why.
	m.Update(rr3)
	os.Remove(src)
	_, next = m.Update(changeMsg{bundle: dir, w: rw.w, change: watch.Change{Paths: []string{src}}, ok: true})
	bad := runCmds(t, next, func(msg tea.Msg) bool { _, ok := msg.(rerunMsg); return ok }).(rerunMsg)
	m.Update(bad)
	if bad.err == nil || !m.status.isErr || !strings.Contains(m.status.text, "rerun: open "+src) {
		t.Fatalf("missing source: %v %q", bad.err, m.status.text)
	}
}

// urunc-dev run: the console starts with the bundle's container created,
// started and shown, and its bundle followed with --watch.
func TestRunOption(t *testing.T) {
	m, f, dir, _ := rerunFixture(t, false)
	m.opts.Run = &RunOptions{Bundle: dir, Watch: true}
	cm := runCmds(t, m.Init(), func(msg tea.Msg) bool { _, ok := msg.(createdMsg); return ok }).(createdMsg)
	if cm.id != "hello-2" || cm.err != nil || !cm.follow || !cm.watch { // hello-1 is taken
		t.Fatalf("%#v", cm)
	}
	_, next := m.Update(cm)
	if m.screen != screenDetail || m.detail.id != "hello-2" || m.detail.tab != tabSerial {
		t.Fatal("not shown")
	}
	rw := runCmds(t, next, func(msg tea.Msg) bool { _, ok := msg.(rerunWatchMsg); return ok }).(rerunWatchMsg)
	defer rw.stop()
	m.Update(rw)
	if r := m.reruns[dir]; r == nil || r.current() != "hello-2" {
		t.Fatal("not followed")
	}
	want(t, lastWord(f.lastCall(t), 2), "start hello-2")
}
