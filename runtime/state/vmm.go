package state

// VMMInfo is vmm.json: what the runtime exec'd and why.
type VMMInfo struct {
	Hypervisor    string   `json:"hypervisor"`
	Binary        string   `json:"binary"`
	Argv          []string `json:"argv"`
	PID           int      `json:"pid"`
	Guest         string   `json:"unikernelType"`
	GuestCmdline  string   `json:"guestCmdline,omitempty"`
	Accel         string   `json:"accel,omitempty"`
	AccelReason   string   `json:"accelReason,omitempty"`
	CPU           string   `json:"cpu,omitempty"`
	Machine       string   `json:"machine,omitempty"`
	MachineReason string   `json:"machineReason,omitempty"`
	MemoryMB      uint64   `json:"memoryMB,omitempty"`
	VCPUs         int      `json:"vcpus,omitempty"`
	Network       string   `json:"network,omitempty"`      // e.g. "tap0 -> 10.0.0.2/24 gw 10.0.0.1" or "none"
	GracefulStop  string   `json:"gracefulStop,omitempty"` // acpi | signal | kill
	Control       string   `json:"control,omitempty"`      // the VMM's control socket: qmp, or none
	TapName       string   `json:"tapName,omitempty"`
	// Console is where the guest's serial console is: "socket" = on
	// console.sock in this directory (read it, write the guest's input);
	// "" or "stdio" = the container's stdio. serial.log has a copy either way.
	Console string `json:"console,omitempty"`
	// GDB is the gdb stub: "on", or "wait" (the guest waits for gdb to
	// continue it), served on gdb.sock; GDBCommand debugs the guest
	// through it with the kernel's symbols. "": no stub.
	GDB        string   `json:"gdb,omitempty"`
	GDBCommand []string `json:"gdbCommand,omitempty"`
	// Kernel is the host path of the kernel the VMM boots.
	Kernel string `json:"kernel,omitempty"`
	// Storage says how the guest gets its root filesystem.
	Storage string `json:"storage,omitempty"`
	// ExitRule is how the VMM's status maps to the guest's (raw,
	// linux-init, unikraft) and FailureMarkers are console lines that mean
	// the guest failed even when that status says success.
	ExitRule string `json:"exitRule,omitempty"`
	// Attachments say which device of the guest got what ("net service0
	// -> tap...", "net: not given (the unikernel declares no network
	// device)"): a Solo5 unikernel gets exactly what its manifest declares.
	Attachments    []string `json:"attachments,omitempty"`
	FailureMarkers []string `json:"failureMarkers,omitempty"`
	// VirtiofsdPID (host pid) and its start time identify a virtiofsd
	// serving the rootfs, so delete can kill one that outlived the VMM.
	VirtiofsdPID       int    `json:"virtiofsdPid,omitempty"`
	VirtiofsdStartTime uint64 `json:"virtiofsdStartTime,omitempty"`
}

// WriteVMM writes vmm.json atomically.
func (d Dir) WriteVMM(v *VMMInfo) error { return d.writeJSON(VMMFile, v) }

// ReadVMM reads vmm.json.
func (d Dir) ReadVMM() (*VMMInfo, error) {
	var v VMMInfo
	if err := d.readJSON(VMMFile, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
