#pragma once
// Plugins build with -fvisibility=hidden. Interfaces shared across the boundary stay visible so
// that their vtables and type_info unify between core and the plugin (GCC visibility wiki).
#define WARMSITE_VISIBLE __attribute__((visibility("default")))
