/**
 * The names of a table's chains as nf_tables reports them over NETLINK_NETFILTER
 * (linux/netfilter/nf_tables.h): the cheap check of table inet pgw between its full read-backs,
 * once a second. Pure; sent by @pgw/original-dst's netlinkTalk (kernel-tables.ts). `nft -j list
 * chains` forked the agent for the same answer.
 */
import { child, NFGENMSG, nfnetlinkMessage, NLM_F_DUMP, NLM_F_REQUEST, stringOf, wholeDumpMessages } from './wire.js';

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_GETCHAIN = 4;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
/** nft's families (NFPROTO_*). */
export const NFPROTO_INET = 1;

/** Every chain of every table of `family` (nf_tables filters a chain dump by nothing). */
export function chainsDumpRequest(family: number, seq: number): Buffer {
  return nfnetlinkMessage(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETCHAIN, family, NLM_F_REQUEST | NLM_F_DUMP, seq);
}

/** The chain names of `table` in a chain dump's answer, in the kernel's order; none when the table is absent. */
export function parseChainNames(answer: Buffer, table: string): string[] {
  const names: string[] = [];
  for (const m of wholeDumpMessages(answer, 'nft chain')) {
    if (m.type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) continue;
    const attrs = m.body.subarray(NFGENMSG);
    const owner = child(attrs, NFTA_CHAIN_TABLE)?.payload;
    const name = child(attrs, NFTA_CHAIN_NAME)?.payload;
    if (owner && name && stringOf(owner) === table) names.push(stringOf(name));
  }
  return names;
}
