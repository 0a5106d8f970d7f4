package shim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// childReaper is the shim's only wait loop: pkg/shim runs with NoReaper,
// so no one else calls wait4(-1) behind our back. pkg/shim's own reaper
// would reap every child on SIGCHLD, stealing the exits that exec.Cmd.Wait
// waits for in-process: the re-exec child's and the OCI hooks' the
// library runs.
//
// The processes the shim starts itself (the re-exec child that becomes
// the VMM, through container.Options.Reaper; a binary:// logger) are
// reaped by pid, keeping their wait status.
//
// Everything else is one of two kinds. In a shim that runs a runc
// container, containerd's runc task service and go-runc wait on
// containerd's reaper (reaper.Default), so reaper.Reap reaps the rest. In
// a shim that runs a unikernel, the other children are the library's
// hooks, waited for by exec.Cmd (they must not be reaped from under it),
// and orphans reparented to the shim (it is a subreaper), such as a
// virtiofsd whose VMM died: a child that has been a zombie for
// orphanGrace is an orphan and is reaped.
type childReaper struct {
	mu      sync.Mutex
	started map[int]*started // by pid, until Wait has taken the status
	// delegate: containerd's reaper waits for the other children.
	delegate bool
	// zombies not started by Start, and since when they are.
	zombies map[int]time.Time
	sweep   *time.Timer
}

// started is a process started by Start: its wait status is sent on
// status once it is reaped (the channel is closed when it is lost).
type started struct {
	status chan unix.WaitStatus
	reaped bool
}

// orphanGrace is how long an unknown zombie may stay before the shim
// reaps it: exec.Cmd.Wait, already blocked in waitid, reaps its own child
// within microseconds of the exit.
const orphanGrace = time.Second

func newChildReaper() *childReaper {
	return &childReaper{started: map[int]*started{}, zombies: map[int]time.Time{}}
}

// run reaps on every SIGCHLD until the process exits.
func (r *childReaper) run() {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGCHLD)
	go func() {
		for range sigs {
			r.reap()
		}
	}()
}

// Start starts cmd and registers its pid before SIGCHLD handling can see
// the exit (the lock is held across fork and registration).
func (r *childReaper) Start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.started[cmd.Process.Pid] = &started{status: make(chan unix.WaitStatus, 1)}
	return nil
}

// Wait returns the wait status of a process started with Start.
func (r *childReaper) Wait(cmd *exec.Cmd) (unix.WaitStatus, error) {
	pid := cmd.Process.Pid
	r.mu.Lock()
	p, ok := r.started[pid]
	r.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("pid %d was not started by the shim's reaper", pid)
	}
	ws, ok := <-p.status
	r.mu.Lock()
	delete(r.started, pid)
	r.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("pid %d: exit status lost", cmd.Process.Pid)
	}
	// The process is reaped: this only releases what exec.Cmd holds (its
	// pidfd, /dev/null files); its "no child processes" error is expected.
	_ = cmd.Wait()
	return ws, nil
}

// delegateOthers hands the exits of every child not started by Start to
// containerd's reaper from now on (the runc task service waits there).
func (r *childReaper) delegateOthers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.delegate {
		return
	}
	r.delegate = true
	// A process of ours that exits between our wait4 by pid and
	// reaper.Reap's wait4(-1) is reaped there: take its status from
	// containerd's reaper (128+n for a signal, as it reports it).
	ec := reaper.Default.Subscribe()
	go func() {
		for e := range ec {
			r.mu.Lock()
			if p, ok := r.started[e.Pid]; ok && !p.reaped {
				ws := unix.WaitStatus(e.Status << 8)
				if e.Status > 128 && e.Status < 128+65 {
					ws = unix.WaitStatus(e.Status - 128)
				}
				p.status <- ws
				p.reaped = true
			}
			r.mu.Unlock()
		}
	}()
}

func (r *childReaper) reap() {
	r.mu.Lock()
	for pid, p := range r.started {
		if p.reaped {
			continue // its Wait has yet to take the status
		}
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case got == pid:
			p.status <- ws
			p.reaped = true
		case errors.Is(err, unix.ECHILD) && !r.delegate:
			// Not our child any more: nothing will ever report it.
			close(p.status)
			p.reaped = true
		}
	}
	delegate := r.delegate
	r.mu.Unlock()
	if delegate {
		if err := reaper.Reap(); err != nil {
			log.L.WithError(err).Error("reap exit status")
		}
		return
	}
	r.sweepOrphans()
}

// sweepOrphans reaps children that were not started by Start and have
// been zombies for orphanGrace (their owner, if any, would have reaped
// them by now); it schedules another sweep while any zombie is left.
func (r *childReaper) sweepOrphans() {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int]time.Time{}
	for _, pid := range children() {
		if _, ours := r.started[pid]; ours || !isZombie(pid) {
			continue
		}
		since, ok := r.zombies[pid]
		if !ok {
			since = time.Now()
		}
		if time.Since(since) >= orphanGrace {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil) // an orphan's status is nobody's
			continue
		}
		seen[pid] = since
	}
	r.zombies = seen
	if len(seen) > 0 && r.sweep == nil {
		r.sweep = time.AfterFunc(orphanGrace, func() {
			r.mu.Lock()
			r.sweep = nil
			r.mu.Unlock()
			r.sweepOrphans()
		})
	}
}

// children lists the shim's child processes (of every thread).
func children() []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(w); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && i+2 < len(data) && data[i+2] == 'Z'
}
