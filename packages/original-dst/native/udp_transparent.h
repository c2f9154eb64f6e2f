#pragma once
#include <napi.h>

// Transparent UDP sockets for TPROXY mode: created with IP_TRANSPARENT, read with the original destination.
void InitUdpTransparent(Napi::Env env, Napi::Object exports);
