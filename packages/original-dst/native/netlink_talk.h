#pragma once
// netlinkTalk(protocol, request, answers): one request/answer exchange on a NETLINK_ROUTE or
// NETLINK_NETFILTER socket (conntrack dump and delete; rule, route and nft chain dumps), run on
// the thread pool. Transport only: the messages are built and parsed in TypeScript.
#include <napi.h>

Napi::Value NetlinkTalk(const Napi::CallbackInfo& info);
