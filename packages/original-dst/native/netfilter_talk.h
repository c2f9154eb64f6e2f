#pragma once
// netfilterTalk(request, answers): one request/answer exchange on a NETLINK_NETFILTER socket
// (conntrack dump and delete), run on the thread pool. Transport only: the messages are built
// and parsed in TypeScript.
#include <napi.h>

Napi::Value NetfilterTalk(const Napi::CallbackInfo& info);
