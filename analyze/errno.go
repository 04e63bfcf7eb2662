package analyze

import "strconv"

// Linux errno values connscope explains (asm-generic numbering, which every
// architecture connscope runs on uses).
const (
	errEPERM           = 1
	errENOENT          = 2
	errEINTR           = 4
	errEAGAIN          = 11
	errEACCES          = 13
	errENOTDIR         = 20
	errEINVAL          = 22
	errEPROTOTYPE      = 91
	errEAFNOSUPPORT    = 97
	errEADDRINUSE      = 98
	errEADDRNOTAVAIL   = 99
	errENETDOWN        = 100
	errENETUNREACH     = 101
	errECONNABORTED    = 103
	errECONNRESET      = 104
	errEISCONN         = 106
	errETIMEDOUT       = 110
	errECONNREFUSED    = 111
	errEHOSTDOWN       = 112
	errEHOSTUNREACH    = 113
	errEALREADY        = 114
	errEINPROGRESS     = 115
	errENOPROTOOPT     = 92
	errEPROTO          = 71
	errENOBUFS         = 105
	errEMFILE          = 24
	errENFILE          = 23
	errENAMETOOLONG    = 36
	errEBADF           = 9
	errENOTSOCK        = 88
	errEPROTONOSUPPORT = 93
	errENOMEM          = 12
	errEIO             = 5
	errENXIO           = 6
	errEFAULT          = 14
	errEPIPE           = 32
	errENOTCONN        = 107
	errEOPNOTSUPP      = 95

	// Kernel-internal: a blocking call interrupted by a signal. The syscall
	// exit tracepoint sees them before the kernel turns them into EINTR or a
	// restart; the application never does.
	errERESTARTSYS           = 512
	errERESTARTNOINTR        = 513
	errERESTARTNOHAND        = 514
	errERESTART_RESTARTBLOCK = 516
)

var errnoNames = map[int32]string{
	errEPERM:           "EPERM",
	errENOENT:          "ENOENT",
	errEINTR:           "EINTR",
	errEIO:             "EIO",
	errENXIO:           "ENXIO",
	errEBADF:           "EBADF",
	errEAGAIN:          "EAGAIN",
	errENOMEM:          "ENOMEM",
	errEACCES:          "EACCES",
	errEFAULT:          "EFAULT",
	errENOTDIR:         "ENOTDIR",
	errEINVAL:          "EINVAL",
	errENFILE:          "ENFILE",
	errEMFILE:          "EMFILE",
	errEPIPE:           "EPIPE",
	errENAMETOOLONG:    "ENAMETOOLONG",
	errEPROTO:          "EPROTO",
	errENOTSOCK:        "ENOTSOCK",
	errEPROTOTYPE:      "EPROTOTYPE",
	errENOPROTOOPT:     "ENOPROTOOPT",
	errEPROTONOSUPPORT: "EPROTONOSUPPORT",
	errEOPNOTSUPP:      "EOPNOTSUPP",
	errEAFNOSUPPORT:    "EAFNOSUPPORT",
	errEADDRINUSE:      "EADDRINUSE",
	errEADDRNOTAVAIL:   "EADDRNOTAVAIL",
	errENETDOWN:        "ENETDOWN",
	errENETUNREACH:     "ENETUNREACH",
	errECONNABORTED:    "ECONNABORTED",
	errECONNRESET:      "ECONNRESET",
	errENOBUFS:         "ENOBUFS",
	errEISCONN:         "EISCONN",
	errENOTCONN:        "ENOTCONN",
	errETIMEDOUT:       "ETIMEDOUT",
	errECONNREFUSED:    "ECONNREFUSED",
	errEHOSTDOWN:       "EHOSTDOWN",
	errEHOSTUNREACH:    "EHOSTUNREACH",
	errEALREADY:        "EALREADY",
	errEINPROGRESS:     "EINPROGRESS",

	errERESTARTSYS:           "ERESTARTSYS",
	errERESTARTNOINTR:        "ERESTARTNOINTR",
	errERESTARTNOHAND:        "ERESTARTNOHAND",
	errERESTART_RESTARTBLOCK: "ERESTART_RESTARTBLOCK",
}

// interruptedOrPending reports whether a connect() return value leaves the
// attempt undecided: it succeeded, is in progress, or a signal interrupted
// the wait (EINTR, or the kernel's restart codes seen before the signal is
// delivered) while the handshake goes on in the kernel.
func interruptedOrPending(ret int32) bool {
	switch -ret {
	case 0, errEINPROGRESS, errEALREADY, errEISCONN, errEINTR,
		errERESTARTSYS, errERESTARTNOINTR, errERESTARTNOHAND, errERESTART_RESTARTBLOCK:
		return true
	}
	return false
}

// errnoName returns the symbolic name of a positive errno ("ECONNREFUSED"),
// or "errno N" for one not in the table.
func errnoName(n int32) string {
	if n < 0 {
		n = -n
	}
	if s, ok := errnoNames[n]; ok {
		return s
	}
	return "errno " + strconv.Itoa(int(n))
}

// retErrno names a connect() return value's errno: "EINPROGRESS" for
// -EINPROGRESS, "" for a success (connect returns 0).
func retErrno(ret int32) string {
	if ret >= 0 {
		return ""
	}
	return errnoName(-ret)
}
