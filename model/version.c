#include "virtiosim/version.h"

/* VS_VERSION comes from the Makefile (-DVS_VERSION="..."), the one place it is set. */
const char *vs_version(void)
{
    return VS_VERSION;
}
