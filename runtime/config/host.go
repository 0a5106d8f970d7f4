package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultHostConfigPath is urunc's own configuration file. The
// URUNC_CONFIG environment variable names another one.
const DefaultHostConfigPath = "/etc/urunc/config.json"

// Duration is a time.Duration that reads "10s"-style strings from JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Timeouts bound every wait of the handshake. Zero means "no limit" and
// is only the default for StartWait: OCI lets a created container wait for
// start as long as the engine likes (runc waits forever too); the child
// still exits at once if killed or deleted.
//
// The waits compose (runtime/container budget.go): a side that runs
// something long (a hook, the network or storage set-up) first tells the
// waiting side, which then allows that step's own limit (Hook, HookMax,
// a hook's own timeout, Network, Storage) plus its margin (Ack,
// StartReply) before the next word. Ack and StartReply are therefore
// margins for what is not announced, not totals.
type Timeouts struct {
	Booted     Duration `json:"booted"`     // create waits for the child's BOOTED
	Ack        Duration `json:"ack"`        // the child waits for create's next word, beyond what create announced
	StartWait  Duration `json:"startWait"`  // the child waits for START
	StartReply Duration `json:"startReply"` // start waits for the child's next word, beyond what the child announced
	Hook       Duration `json:"hook"`       // a hook without its own timeout (0: none, HookMax bounds it)
	HookMax    Duration `json:"hookMax"`    // a hook that nothing else bounds (no timeout of its own, Hook 0); > 0
	Network    Duration `json:"network"`    // the child sets up the guest's network (after ACK); > 0
	Storage    Duration `json:"storage"`    // the child prepares storage and the VMM (after START); > 0
	Lock       Duration `json:"lock"`       // waiting for another urunc command's lock
	StopGrace  Duration `json:"stopGrace"`  // SIGTERM: how long a guest may take to power off
	Kill       Duration `json:"kill"`       // delete --force: wait for the VMM to die
}

// VMMDefaults are the machine choices for qemu; "" or "auto" lets urunc decide.
type VMMDefaults struct {
	Accel     string   `json:"accel"`
	CPU       string   `json:"cpu"`
	Machine   string   `json:"machine"`
	ExtraArgs []string `json:"extraArgs"`
}

// Host is urunc's own configuration.
type Host struct {
	Timeouts Timeouts    `json:"timeouts"`
	QEMU     VMMDefaults `json:"qemu"`
	MemoryMB uint64      `json:"defaultMemoryMB"` // when the spec sets no memory limit
	VCPUs    int         `json:"defaultVCPUs"`    // when the spec sets no CPU limit
	// VMMOverheadMB is what the VMM itself needs besides the guest's RAM.
	// The spec's memory limit bounds the whole cgroup (VMM + guest), so
	// the guest gets the limit minus this; otherwise a guest using all its
	// memory would get the VMM OOM-killed.
	VMMOverheadMB uint64 `json:"vmmMemoryOverheadMB"`
	RuncPath      string `json:"runc"` // runtime for non-unikernel bundles
	// CacheDir keeps reusable artefacts (the static part of Linux guest
	// initrds); never under the state root, which must be empty when no
	// container exists.
	CacheDir string `json:"cacheDir"`
	// SharedFS is how a Linux guest gets the container rootfs unless the
	// container says otherwise (KeySharedFS): "9p" or "virtiofs".
	SharedFS string `json:"sharedFS"`
	// Virtiofsd is the virtio-fs daemon (the C one qemu 7.2 ships).
	Virtiofsd string `json:"virtiofsd"`
	// Monitors holds per-monitor settings by canonical name (qemu,
	// firecracker, hvt, spt, cloud-hypervisor).
	Monitors map[string]Monitor `json:"monitors,omitempty"`
}

// Monitor is one monitor's host settings.
type Monitor struct {
	// Path is the monitor's binary (absolute); empty: looked up on PATH.
	Path string `json:"path,omitempty"`
}

// MonitorPath is the configured binary of the monitor named canonical, or "".
func (h *Host) MonitorPath(canonical string) string { return h.Monitors[canonical].Path }

// DefaultHost returns the built-in configuration.
func DefaultHost() *Host {
	return &Host{
		Timeouts: Timeouts{
			Booted:     Duration(10 * time.Second),
			Ack:        Duration(10 * time.Second),
			StartWait:  0,
			StartReply: Duration(60 * time.Second),
			Hook:       Duration(30 * time.Second),
			HookMax:    Duration(10 * time.Minute),
			Network:    Duration(10 * time.Second),
			Storage:    Duration(60 * time.Second),
			Lock:       Duration(30 * time.Second),
			StopGrace:  Duration(3 * time.Second),
			Kill:       Duration(10 * time.Second),
		},
		QEMU:          VMMDefaults{Accel: "auto"},
		MemoryMB:      256,
		VMMOverheadMB: 64,
		VCPUs:         1,
		RuncPath:      "runc",
		CacheDir:      "/var/cache/urunc",
		SharedFS:      SharedFS9P,
		Virtiofsd:     "/usr/lib/qemu/virtiofsd",
	}
}

// LoadHost reads path (a missing file means defaults) over the defaults.
func LoadHost(path string) (*Host, error) {
	h := DefaultHost()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("urunc config %s: %w", path, err)
	}
	if err := json.Unmarshal(data, h); err != nil {
		return nil, fmt.Errorf("urunc config %s: %w", path, err)
	}
	for _, t := range []struct {
		name string
		d    Duration
	}{{"hookMax", h.Timeouts.HookMax}, {"network", h.Timeouts.Network}, {"storage", h.Timeouts.Storage}} {
		if t.d <= 0 {
			return nil, fmt.Errorf("urunc config %s: timeouts.%s must be positive: it bounds a step the other side of the handshake waits for", path, t.name)
		}
	}
	switch h.QEMU.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		return nil, fmt.Errorf("urunc config %s: qemu.accel must be kvm, tcg or auto, got %q", path, h.QEMU.Accel)
	}
	if err := CheckSharedFS(h.SharedFS); err != nil {
		return nil, fmt.Errorf("urunc config %s: sharedFS: %w", path, err)
	}
	if h.MemoryMB < 8 || h.VCPUs < 1 {
		return nil, fmt.Errorf("urunc config %s: defaultMemoryMB must be >= 8 and defaultVCPUs >= 1", path)
	}
	for name, m := range h.Monitors {
		if m.Path != "" && !filepath.IsAbs(m.Path) {
			return nil, fmt.Errorf("urunc config %s: monitors.%s.path %q must be an absolute path", path, name, m.Path)
		}
	}
	return h, nil
}

// HostConfigPath returns the configuration file in effect.
func HostConfigPath() string {
	if p := os.Getenv("URUNC_CONFIG"); p != "" {
		return p
	}
	return DefaultHostConfigPath
}
