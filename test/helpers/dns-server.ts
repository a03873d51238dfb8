import { createSocket } from 'node:dgram';

/**
 * A small authoritative DNS server on a loopback UDP port for domain verification tests: it answers TXT queries
 * from `records` (name → TXT records, each a list of character-strings), which the test changes at will.
 * A name absent from the map is NXDOMAIN; a name mapped to `[]` exists without TXT records (NOERROR, no answer);
 * `mode` makes every answer SERVFAIL, or drops every query (a server that never answers). Node's resolver talks
 * to it as to any other server (`GATEHOUSE_DNS_SERVERS=127.0.0.1:<port>`). Queries are counted in `queries`.
 */
export interface TestDnsServer {
  port: number;
  /** `host:port` for GATEHOUSE_DNS_SERVERS. */
  address: string;
  records: Map<string, string[][]>;
  mode: 'answer' | 'servfail' | 'silent';
  /** The names asked for, in order (lower-case). */
  queries: string[];
  close(): Promise<void>;
}

const TXT = 16;
const NOERROR = 0;
const SERVFAIL = 2;
const NXDOMAIN = 3;

export async function startDnsServer(): Promise<TestDnsServer> {
  const socket = createSocket('udp4');
  const server: TestDnsServer = {
    port: 0,
    address: '',
    records: new Map(),
    mode: 'answer',
    queries: [],
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (query, peer) => {
    if (query.length < 12 || server.mode === 'silent') return;
    // The question: labels up to the root, then QTYPE and QCLASS.
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      const len = query[at] as number;
      labels.push(query.subarray(at + 1, at + 1 + len).toString('latin1'));
      at += 1 + len;
    }
    const end = at + 5;
    if (end > query.length) return;
    const qtype = query.readUInt16BE(at + 1);
    const name = labels.join('.').toLowerCase();
    server.queries.push(name);
    const txt = server.records.get(name);
    const rcode = server.mode === 'servfail' ? SERVFAIL : txt === undefined ? NXDOMAIN : NOERROR;
    const answers =
      rcode === NOERROR && qtype === TXT
        ? (txt ?? []).map((strings) => {
            const rdata = Buffer.concat(
              strings.map((s) => {
                const bytes = Buffer.from(s, 'utf8');
                return Buffer.concat([Buffer.from([bytes.length]), bytes]);
              }),
            );
            // Name: a pointer to the question's name (offset 12); TXT, IN, TTL 0, the data.
            const rr = Buffer.alloc(12);
            rr.writeUInt16BE(0xc00c, 0);
            rr.writeUInt16BE(TXT, 2);
            rr.writeUInt16BE(1, 4);
            rr.writeUInt32BE(0, 6);
            rr.writeUInt16BE(rdata.length, 10);
            return Buffer.concat([rr, rdata]);
          })
        : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // ID
    // QR, AA, the query's RD; RA; RCODE.
    header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4); // QDCOUNT
    header.writeUInt16BE(answers.length, 6); // ANCOUNT
    socket.send(Buffer.concat([header, query.subarray(12, end), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  server.port = socket.address().port;
  server.address = `127.0.0.1:${server.port}`;
  return server;
}
