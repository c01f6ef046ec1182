/* h5util: the small HDF5 helpers that the writer (src/store.c) and the reader
 * (src/results.c) of a result file share.
 *
 * Owns the mapping of the schema's element types (ds_elem, src/schema.h) to
 * HDF5 types and the reading of scalar attributes. Owns no file or id beyond
 * a call: every id a function opens is closed before it returns. */
#ifndef DS_H5UTIL_H
#define DS_H5UTIL_H

#include <hdf5.h>

#include "schema.h"

/* The HDF5 type of a numeric element (DS_EL_U8 ... DS_EL_F64) in memory
 * (native) and in the file (little-endian). Predefined types: never close
 * them. Strings have no predefined type: see ds_h5_string_type. */
hid_t ds_h5_memtype(ds_elem e);
hid_t ds_h5_filetype(ds_elem e);

/* A new fixed-length, NUL-terminated C string type of n bytes (the caller
 * closes it), or a negative id on failure. */
hid_t ds_h5_string_type(size_t n);

/* The string attribute `name` of obj (fixed or variable length, read in the
 * file's character set) as a malloc'd string; NULL when it is absent, not a
 * string, or unreadable. Leaves no HDF5 error unhandled (callers that
 * print HDF5's error stack should silence it first). */
char *ds_h5_attr_string(hid_t obj, const char *name);

/* How a reader opened a result file (ds_h5_open_read). */
enum { DS_H5_OPEN_SWMR = 1, DS_H5_OPEN_PLAIN = 2, DS_H5_OPEN_FLAG_IGNORED = 3 };

/* How often a reader re-reads a metadata block whose checksum fails before
 * it gives up. A SWMR reader retries because a live writer may be rewriting
 * the block, and HDF5 sleeps 1 ns, 2 ns, 4 ns, ... between attempts: its
 * default of 100 never ends on a damaged block (2^99 ns), so a damaged file
 * hung every reader. 24 attempts wait at most 2^23 ns (8 ms) per damaged
 * block; a reader against a live writer (docs/result-file.md "Damaged
 * files") never needed a single retry. */
#define DS_H5_READ_ATTEMPTS 24

/* Opens path read-only as every reader of a result file does, under the
 * caller's file-access list fapl, whose metadata read attempts it sets to
 * DS_H5_READ_ATTEMPTS (the readers' one policy: a damaged file fails in
 * bounded time): SWMR-read first (a live or killed SWMR
 * writer's file, unmodified), else plain read-only (a file never written in
 * SWMR mode), else read-only with the superblock's write flag ignored (a
 * writer killed inside ds_store_open before its switch to SWMR, or one there
 * now; the property "clear_status_flags" is set on fapl, and nothing is
 * written). *how says which (DS_H5_OPEN_*). Returns the file id, or a
 * negative id when none of them opens it. */
hid_t ds_h5_open_read(const char *path, hid_t fapl, int *how);

/* Reads the integer attribute `name` of obj into *out. Returns 1 when read,
 * 0 when obj has no such attribute (*out untouched), -1 on an HDF5 error. */
int ds_h5_attr_int(hid_t obj, const char *name, int *out);

#endif
