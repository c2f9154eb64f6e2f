#pragma once
#include <napi.h>

// TcpAcceptor: accepts on a listening TCP socket and hands JavaScript descriptors, not net.Sockets.
void InitTcpAcceptor(Napi::Env env, Napi::Object exports);
