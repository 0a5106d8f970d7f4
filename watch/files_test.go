package watch

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestWatchFiles(t *testing.T) {
	const quiet = 150 * time.Millisecond
	type step func(t *testing.T, kernel, initrd string)
	write := func(path, s string) { os.WriteFile(path, []byte(s), 0o644) }
	cases := []struct {
		name  string
		build step
		want  string // changed base names, "" = no change
	}{
		{"written in several steps", func(t *testing.T, k, _ string) {
			f, _ := os.OpenFile(k, os.O_WRONLY|os.O_TRUNC, 0)
			for i := 0; i < 5; i++ {
				f.WriteString(strings.Repeat("x", 4096))
				time.Sleep(quiet / 5)
			}
			f.Close()
			os.Chmod(k, 0o755)
		}, "kernel"},
		{"a temporary file renamed over it", func(t *testing.T, k, _ string) {
			write(k+".tmp", "new")
			os.Rename(k+".tmp", k)
		}, "kernel"},
		{"removed, then written again", func(t *testing.T, k, _ string) {
			os.Remove(k)
			time.Sleep(2 * quiet) // the change waits for the file
			write(k, "again")
		}, "kernel"},
		{"both files of one build", func(t *testing.T, k, i string) {
			write(k, "k2")
			write(i, "i2")
		}, "initrd kernel"},
		{"another file of the directory", func(t *testing.T, k, _ string) {
			write(filepath.Join(filepath.Dir(k), "other"), "x")
			os.Chmod(k, 0o700) // a chmod alone is no rebuild
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			kernel, initrd := filepath.Join(dir, "kernel"), filepath.Join(t.TempDir(), "initrd")
			write(kernel, "k1")
			write(initrd, "i1")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := WatchFiles(ctx, []string{kernel, initrd}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			c.build(t, kernel, initrd)
			// The first change, then nothing more for a while.
			var got []Change
			wait := 5 * time.Second
			if c.want == "" {
				wait = 4 * quiet
			}
			timeout := time.After(wait)
		collect:
			for {
				select {
				case ch := <-w.Changes():
					got = append(got, ch)
					timeout = time.After(4 * quiet)
				case <-timeout:
					break collect
				}
			}
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("changes: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d changes, want 1: %+v", len(got), got)
			}
			var names []string
			for _, p := range got[0].Paths {
				names = append(names, filepath.Base(p))
			}
			sort.Strings(names)
			if strings.Join(names, " ") != c.want {
				t.Fatalf("changed %v, want %s", names, c.want)
			}
			ch := got[0]
			if ch.First.Before(before) || ch.Last.Before(ch.First) || ch.Ready.Before(ch.Last) {
				t.Fatalf("times out of order: %+v", ch)
			}
		})
	}
}

// Two builds far enough apart are two changes; the channel closes with ctx.
func TestWatchFilesTwoBuilds(t *testing.T) {
	const quiet = 100 * time.Millisecond
	kernel := filepath.Join(t.TempDir(), "kernel")
	os.WriteFile(kernel, []byte("1"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := WatchFiles(ctx, []string{kernel}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		os.WriteFile(kernel, []byte{byte('2' + i)}, 0o644)
		select {
		case <-w.Changes():
		case <-time.After(10 * time.Second):
			t.Fatalf("build %d: no change", i+1)
		}
	}
	cancel()
	for range w.Changes() {
	}
	if _, err := WatchFiles(context.Background(), nil, 0); err == nil {
		t.Fatal("no files accepted")
	}
	if _, err := WatchFiles(context.Background(), []string{"/nonexistent/dir/kernel"}, 0); err == nil {
		t.Fatal("a missing directory accepted")
	}
}
