//go:build !amd64

package linuxboot

func rdtsc() uint64 { return 0 }

const haveTSC = false
