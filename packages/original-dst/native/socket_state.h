#pragma once
#include <napi.h>

// takeSocketError(fd), unacknowledgedBytes(fd), resetOnClose(fd): what a relay needs to pass a failure on whole.
void InitSocketState(Napi::Env env, Napi::Object exports);

// SO_LINGER 0: the socket's close sends a reset. 0, or the errno.
int SetResetOnClose(int fd);

// Bytes the socket holds that its peer has not acknowledged (SIOCOUTQ) into *bytes. 0, or the errno.
int GetUnacknowledgedBytes(int fd, int* bytes);
