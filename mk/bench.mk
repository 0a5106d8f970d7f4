# Benchmarks (docs/benchmarks.md): ratios against baselines run side by side.
.PHONY: bench bench-full
bench: build unikernel
	$(GO) run ./cmd/urunc-bench

bench-full: build unikernel linux-kernel
	$(GO) run ./cmd/urunc-bench -full
