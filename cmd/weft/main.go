// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weft is the weft CNI plugin (not implemented yet: see issue 4).
package main

import (
	"fmt"
	"os"
)

var version = "dev"

func main() {
	fmt.Fprintf(os.Stderr, "usage: weft ...\nweft %s: the weft CNI plugin (not implemented yet: see issue 4)\n", version)
	os.Exit(2)
}
