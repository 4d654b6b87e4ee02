module labkit.local/capwrap

// 1.19 so that Debian bookworm's golang-go can build it without fetching a toolchain.
go 1.19
