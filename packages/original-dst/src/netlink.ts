import { binding } from './binding.js';

/** The netlink protocols the agent talks: rules, routes and neighbours; conntrack and nftables. */
const PROTOCOLS = { route: 0, netfilter: 12 } as const;
export type NetlinkProtocol = keyof typeof PROTOCOLS;

/**
 * Sends `request` (one or more netlink messages, built by the caller) on a netlink socket of the
 * caller's network namespace and resolves with every message of the kernel's answer, once
 * `answers` of them ended a request (NLMSG_DONE after a dump, NLMSG_ERROR for a request with
 * NLM_F_ACK or one that failed). Runs on the thread pool; rejects when the kernel does not finish
 * within 5 s. Needs CAP_NET_ADMIN for anything but reads.
 */
export function netlinkTalk(protocol: NetlinkProtocol, request: Buffer, answers: number): Promise<Buffer> {
  return binding.netlinkTalk(PROTOCOLS[protocol], request, answers);
}
