// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weftctl is the weft operator CLI (not implemented yet: see issue 6).
package main

import (
	"fmt"
	"os"
)

var version = "dev"

func main() {
	fmt.Fprintf(os.Stderr, "usage: weftctl ...\nweftctl %s: the weft operator CLI (not implemented yet: see issue 6)\n", version)
	os.Exit(2)
}
