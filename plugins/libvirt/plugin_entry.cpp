// The library's entry points: the handshake and the factory of libvirt.so.

#include "libvirt_plugin.h"
#include "warmsite/plugin/sdk.h"

WARMSITE_PLUGIN("libvirt", "1.0.0", warmsite::libvirtplugin::create)
