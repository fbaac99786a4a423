// Command modlist prints the module list and pip_freeze_hash of its own
// build. Test binaries carry no dependency list (runtime/debug records deps
// only for real executables), so TestModuleListOfARealBuild builds this.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/inferencebench/bench/services/runner/hwinfo"
)

func main() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(os.Stderr, "no build information")
		os.Exit(1)
	}
	fmt.Println(hwinfo.ModuleListHash(bi))
	fmt.Println(hwinfo.ModuleList(bi))
}
