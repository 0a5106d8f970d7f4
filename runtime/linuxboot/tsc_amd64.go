package linuxboot

func rdtsc() uint64

const haveTSC = true
