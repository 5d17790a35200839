/* The library's version, for programs that link libvirtiosim.so.0 at run time and want to
 * know which build they got (the CLI's `virtiosim --version` prints the same string). */
#ifndef VIRTIOSIM_VERSION_H
#define VIRTIOSIM_VERSION_H

/* The shared library's SONAME is libvirtiosim.so.<VS_SOVERSION>; it changes only when
 * the ABI breaks. */
#define VS_SOVERSION 0

/* "MAJOR.MINOR.PATCH" of the library that is loaded (not of the headers compiled against). */
const char *vs_version(void);

#endif
