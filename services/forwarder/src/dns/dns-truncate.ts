import { DNS_HEADER_BYTES, questionsEnd } from './dns-header.js';

const TC = 0x02;

/**
 * The answer to send over UDP: `answer` itself when it fits in `udpAnswerMax`, else the header with
 * TC=1 and the question only (RFC 2181 section 9, RFC 7766 section 5: the client retries over
 * TCP, which the TCP relay carries through the same proxy). Never a cut-off record.
 */
export function fitDnsAnswer(answer: Buffer, udpAnswerMax: number): Buffer {
  if (answer.length <= udpAnswerMax) return answer;
  const questions = answer.readUInt16BE(4);
  // The question as the resolver echoed it; unparsable: the header alone, no question.
  const end = questionsEnd(answer, questions);
  const keep = end !== null && end <= udpAnswerMax ? end : DNS_HEADER_BYTES;
  const truncated = Buffer.from(answer.subarray(0, keep));
  truncated[2] = truncated[2]! | TC;
  truncated.writeUInt16BE(keep === DNS_HEADER_BYTES ? 0 : questions, 4);
  truncated.writeUInt16BE(0, 6);
  truncated.writeUInt16BE(0, 8);
  truncated.writeUInt16BE(0, 10);
  return truncated;
}
