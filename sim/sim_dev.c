/* Look-ups in the generated registry of simulator device tables. */
#include "sim/sim_dev.h"

#include <string.h>

const vs_sim_dev *vs_sim_dev_by_name(const char *name)
{
    for (const vs_sim_dev *const *d = vs_sim_devs; name && *d; d++)
        if (strcmp((*d)->name, name) == 0)
            return *d;
    return NULL;
}

const vs_sim_dev *vs_sim_dev_by_id(uint32_t device_id)
{
    for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++)
        if ((*d)->device_id == device_id)
            return *d;
    return NULL;
}
