// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weftd is the weft node daemon (not implemented yet: see issue 5).
package main

import (
	"fmt"
	"os"
)

var version = "dev"

func main() {
	fmt.Fprintf(os.Stderr, "usage: weftd ...\nweftd %s: the weft node daemon (not implemented yet: see issue 5)\n", version)
	os.Exit(2)
}
