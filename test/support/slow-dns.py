# A DNS server for tests, on 127.0.0.1:53 of the namespace it runs in: A queries for the names in
# argv (name=address=delay_ms) are answered with that address after that delay; every other query
# gets an empty NOERROR answer at once. Each query is logged to stdout ("qname qtype"), flushed.
import socket, struct, sys, threading

names = {}
for spec in sys.argv[1:]:
    name, address, delay = spec.split('=')
    names[name.lower()] = (socket.inet_aton(address), int(delay) / 1000)

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(('127.0.0.1', 53))
print('ready', flush=True)

def question(packet):
    labels, at = [], 12
    while packet[at]:
        labels.append(packet[at + 1:at + 1 + packet[at]].decode('ascii', 'replace'))
        at += 1 + packet[at]
    qtype = struct.unpack('!H', packet[at + 1:at + 3])[0]
    return '.'.join(labels).lower(), qtype, at + 5

while True:
    packet, peer = sock.recvfrom(512)
    try:
        qname, qtype, end = question(packet)
    except Exception:
        continue
    print(qname, qtype, flush=True)
    header = packet[:2] + b'\x81\x80' + packet[4:6]
    known = names.get(qname)
    if known is None or qtype != 1:
        reply, delay = header + b'\x00\x00\x00\x00\x00\x00' + packet[12:end], 0
    else:
        answer = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + known[0]
        reply, delay = header + b'\x00\x01\x00\x00\x00\x00' + packet[12:end] + answer, known[1]
    threading.Timer(delay, sock.sendto, (reply, peer)).start()
