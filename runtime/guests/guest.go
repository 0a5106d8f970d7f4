// Package guests turns a vm.Request into a guest command line plus the
// VMM-specific extras each unikernel framework needs.
package guests
