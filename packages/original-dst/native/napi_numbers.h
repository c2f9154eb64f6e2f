#pragma once
// Numbers from JavaScript taken as what they must be (a descriptor, a port), checked on the double
// before any cast: Napi's Int32Value wraps (NaN is 0, 2^32 + 1 is 1), so a bad value named the
// process's own stdin or stdout, or port 80 for 2^32 + 80.
#include <cstdint>
#include <napi.h>

// A whole number in [min, max]; false for anything else (not a number, NaN, a fraction, out of range).
bool WholeNumberIn(const Napi::Value& v, double min, double max, int* out);

// A descriptor (0..INT_MAX), or with allowNone also -1 (none).
bool DescriptorArg(const Napi::Value& v, int* out, bool allowNone = false);

// A TCP or UDP port, 1..65535.
bool PortArg(const Napi::Value& v, int* out);

// A socket mark (SO_MARK), min..0xffffffff: beyond int, so not WholeNumberIn's.
bool MarkArg(const Napi::Value& v, uint32_t min, uint32_t* out);
