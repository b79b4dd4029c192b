// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command pause is the sandbox ("pause") image of the CRI test tier: the
// process that holds a pod's namespaces. It waits for SIGTERM (or SIGINT)
// and exits 0. Built static (CGO_ENABLED=0) so the image needs nothing else;
// cluster.Containerd packs it into an image, as no registry is reachable.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
