#include "napi_numbers.h"

#include <climits>
#include <cmath>

bool WholeNumberIn(const Napi::Value& v, double min, double max, int* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < min || d > max) return false;
  *out = static_cast<int>(d);
  return true;
}

bool DescriptorArg(const Napi::Value& v, int* out, bool allowNone) {
  return WholeNumberIn(v, allowNone ? -1 : 0, INT_MAX, out);
}

bool PortArg(const Napi::Value& v, int* out) {
  return WholeNumberIn(v, 1, 65535, out);
}

bool MarkArg(const Napi::Value& v, uint32_t min, uint32_t* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < min || d > 0xffffffffu) return false;
  *out = static_cast<uint32_t>(d);
  return true;
}
