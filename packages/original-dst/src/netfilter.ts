import { binding } from './binding.js';

/**
 * Sends `request` (one or more netlink messages, built by the caller) on a NETLINK_NETFILTER
 * socket of the caller's network namespace and resolves with every message of the kernel's
 * answer, once `answers` of them ended a request (NLMSG_DONE after a dump, NLMSG_ERROR for a
 * request with NLM_F_ACK or one that failed). Runs on the thread pool; rejects when the kernel
 * does not finish within 5 s. Needs CAP_NET_ADMIN for anything but reads.
 */
export function netfilterTalk(request: Buffer, answers: number): Promise<Buffer> {
  return binding.netfilterTalk(request, answers);
}
