package nstest

import "os"

// KernelHalf tells a test that splits a matrix between the VM's two
// kernels which half is this kernel's: 0 on 6.1, 1 on 6.12. split is
// false natively (or on another kernel): run the whole matrix. Split
// only what the kernels cannot tell apart, so that the two runs together
// still cover every case.
func KernelHalf() (half int, split bool) {
	switch os.Getenv("LVS_VM_KERNEL") {
	case "6.1":
		return 0, true
	case "6.12":
		return 1, true
	}
	return 0, false
}
