// Package walvfs is the VFS the SQLite writer of sqlstore opens its
// database through: SQLite's own unix VFS, except that a WAL file gathers
// the writes SQLite makes to it one after the other and passes them on in
// one.
//
// SQLite writes each WAL frame with two calls (its 24-byte header, then the
// page), so a commit of 60 pages made 120 write system calls; gathered,
// they are one or two. Every write still reaches the file, in order,
// before the WAL is synced, read, sized, truncated, closed or written
// elsewhere, so what a synced commit leaves on disk is byte for byte what
// the unix VFS leaves. A commit is published to readers right after its
// sync only when synchronous is FULL, so only such a writer may use it: at
// NORMAL, SQLite publishes a commit without touching the WAL again, and
// readers would look for frames still held back.
package walvfs

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Name names the VFS, for the vfs parameter of a SQLite DSN.
const Name = "convo-gathered-wal"

// walGatherLimit is the most a WAL file holds back: the largest write the
// unix VFS makes in one call (it masks larger sizes to 17 bits).
const walGatherLimit = 1<<17 - 1

// walFileHeader is what the VFS puts in front of the unix VFS's own
// sqlite3_file in a WAL's: the pointer to its method table.
const walFileHeader = 8

// SQLite's VFS registry is process-wide and keeps pointers to the VFS and
// method tables for as long as the process runs, so these are too.
var gatheredVFS struct {
	once sync.Once
	err  error
	// vfs and io are the VFS and the WAL's method table, in C memory
	// (SQLite does pointer arithmetic on them).
	vfs, io uintptr
	// unix is the VFS wrapped, and unixOpen its xOpen.
	unix, unixOpen uintptr
	// files holds each open WAL by the address of its sqlite3_file.
	files sync.Map
}

// walFile is an open WAL: the unix VFS's file inside it, its methods, and
// the bytes held back.
type walFile struct {
	unix    uintptr
	methods sqlite3.Tsqlite3_io_methods
	// held is C memory of walGatherLimit bytes, allocated by the first
	// write, of which heldLen bytes wait to go at offset heldAt.
	held    uintptr
	heldLen int
	heldAt  int64
}

// Register registers the VFS, once per process.
func Register() error {
	v := &gatheredVFS
	v.once.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		if v.unix = sqlite3.Xsqlite3_vfs_find(tls, 0); v.unix == 0 {
			v.err = errors.New("sqlstore: sqlite: no default VFS")
			return
		}
		name, err := libc.CString(Name)
		if err != nil {
			v.err = fmt.Errorf("sqlstore: sqlite: %w", err)
			return
		}
		v.vfs = libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
		v.io = libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		if v.vfs == 0 || v.io == 0 {
			v.err = errors.New("sqlstore: sqlite: out of memory")
			return
		}
		vfs := (*sqlite3.Tsqlite3_vfs)(cPointer(v.vfs))
		*vfs = *(*sqlite3.Tsqlite3_vfs)(cPointer(v.unix))
		v.unixOpen = vfs.FxOpen
		vfs.FzName, vfs.FpNext = name, 0
		vfs.FszOsFile += walFileHeader
		setFunc[xOpen](&vfs.FxOpen, walOpen)

		io := (*sqlite3.Tsqlite3_io_methods)(cPointer(v.io))
		// Version 1: SQLite maps shared memory and pages through the
		// database file only, never through its WAL.
		io.FiVersion = 1
		setFunc[xFile](&io.FxClose, walClose)
		setFunc[xReadWrite](&io.FxRead, walRead)
		setFunc[xReadWrite](&io.FxWrite, walWrite)
		setFunc[xTruncate](&io.FxTruncate, walTruncate)
		setFunc[xFileInt](&io.FxSync, walSync)
		setFunc[xFilePtr](&io.FxFileSize, walFileSize)
		setFunc[xFileInt](&io.FxLock, walLock)
		setFunc[xFileInt](&io.FxUnlock, walUnlock)
		setFunc[xFilePtr](&io.FxCheckReservedLock, walCheckReservedLock)
		setFunc[xFileControl](&io.FxFileControl, walFileControl)
		setFunc[xFile](&io.FxSectorSize, walSectorSize)
		setFunc[xFile](&io.FxDeviceCharacteristics, walDeviceCharacteristics)
		if rc := sqlite3.Xsqlite3_vfs_register(tls, v.vfs, 0); rc != sqlite3.SQLITE_OK {
			v.err = fmt.Errorf("sqlstore: sqlite: register the %s VFS: code %d", Name, rc)
		}
	})
	return v.err
}

// walOpen opens a WAL inside a walFile, and every other file just as the
// unix VFS does.
func walOpen(tls *libc.TLS, _, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	v := &gatheredVFS
	if flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return cFunc[xOpen](v.unixOpen)(tls, v.unix, zName, pFile, flags, pOutFlags)
	}
	f := &walFile{unix: pFile + walFileHeader}
	if rc := cFunc[xOpen](v.unixOpen)(tls, v.unix, zName, f.unix, flags, pOutFlags); rc != sqlite3.SQLITE_OK {
		return rc
	}
	f.methods = *(*sqlite3.Tsqlite3_io_methods)(cPointer(*(*uintptr)(cPointer(f.unix))))
	v.files.Store(pFile, f)
	// SQLite takes a file whose method table is set as open.
	*(*uintptr)(cPointer(pFile)) = v.io
	return sqlite3.SQLITE_OK
}

func openWAL(pFile uintptr) *walFile {
	f, _ := gatheredVFS.files.Load(pFile)
	return f.(*walFile)
}

// flush passes on what f holds back.
func (f *walFile) flush(tls *libc.TLS) int32 {
	if f.heldLen == 0 {
		return sqlite3.SQLITE_OK
	}
	rc := cFunc[xReadWrite](f.methods.FxWrite)(tls, f.unix, f.held, int32(f.heldLen), f.heldAt)
	f.heldLen = 0
	return rc
}

// walWrite holds a write back if it continues what is held, and passes on
// what was held otherwise.
func walWrite(tls *libc.TLS, pFile, z uintptr, amt int32, off int64) int32 {
	f := openWAL(pFile)
	if f.heldLen > 0 && off == f.heldAt+int64(f.heldLen) && f.heldLen+int(amt) <= walGatherLimit {
		libc.Xmemcpy(tls, f.held+uintptr(f.heldLen), z, libc.Tsize_t(amt))
		f.heldLen += int(amt)
		return sqlite3.SQLITE_OK
	}
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	if amt > walGatherLimit {
		return cFunc[xReadWrite](f.methods.FxWrite)(tls, f.unix, z, amt, off)
	}
	if f.held == 0 {
		if f.held = libc.Xmalloc(tls, walGatherLimit); f.held == 0 {
			return sqlite3.SQLITE_IOERR_NOMEM
		}
	}
	libc.Xmemcpy(tls, f.held, z, libc.Tsize_t(amt))
	f.heldLen, f.heldAt = int(amt), off
	return sqlite3.SQLITE_OK
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	f := openWAL(pFile)
	rc := f.flush(tls)
	if closed := cFunc[xFile](f.methods.FxClose)(tls, f.unix); rc == sqlite3.SQLITE_OK {
		rc = closed
	}
	libc.Xfree(tls, f.held)
	gatheredVFS.files.Delete(pFile)
	return rc
}

func walRead(tls *libc.TLS, pFile, z uintptr, amt int32, off int64) int32 {
	f := openWAL(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cFunc[xReadWrite](f.methods.FxRead)(tls, f.unix, z, amt, off)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	f := openWAL(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cFunc[xTruncate](f.methods.FxTruncate)(tls, f.unix, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	f := openWAL(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cFunc[xFileInt](f.methods.FxSync)(tls, f.unix, flags)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	f := openWAL(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cFunc[xFilePtr](f.methods.FxFileSize)(tls, f.unix, pSize)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	f := openWAL(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cFunc[xFileControl](f.methods.FxFileControl)(tls, f.unix, op, pArg)
}

func walLock(tls *libc.TLS, pFile uintptr, level int32) int32 {
	f := openWAL(pFile)
	return cFunc[xFileInt](f.methods.FxLock)(tls, f.unix, level)
}

func walUnlock(tls *libc.TLS, pFile uintptr, level int32) int32 {
	f := openWAL(pFile)
	return cFunc[xFileInt](f.methods.FxUnlock)(tls, f.unix, level)
}

func walCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	f := openWAL(pFile)
	return cFunc[xFilePtr](f.methods.FxCheckReservedLock)(tls, f.unix, pResOut)
}

func walSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	f := openWAL(pFile)
	return cFunc[xFile](f.methods.FxSectorSize)(tls, f.unix)
}

func walDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	f := openWAL(pFile)
	return cFunc[xFile](f.methods.FxDeviceCharacteristics)(tls, f.unix)
}

// The shapes of the VFS and file methods called here.
type (
	xOpen        = func(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32
	xReadWrite   = func(tls *libc.TLS, pFile, z uintptr, amt int32, off int64) int32
	xTruncate    = func(tls *libc.TLS, pFile uintptr, size int64) int32
	xFile        = func(tls *libc.TLS, pFile uintptr) int32
	xFileInt     = func(tls *libc.TLS, pFile uintptr, v int32) int32
	xFilePtr     = func(tls *libc.TLS, pFile, p uintptr) int32
	xFileControl = func(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32
)

// cFunc returns the C function at fn as a Go function of type F: the
// translated SQLite keeps a function pointer as the address of a Go func
// value.
func cFunc[F any](fn uintptr) F {
	return *(*F)(unsafe.Pointer(&struct{ uintptr }{fn}))
}

// setFunc stores the Go function fn in the C function pointer at slot.
func setFunc[F any](slot *uintptr, fn F) {
	*(*F)(unsafe.Pointer(slot)) = fn
}

// cPointer returns the address p of C memory as a pointer.
func cPointer(p uintptr) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(nil), p)
}
