// wsraw.mjs — a raw WebSocket (RFC 6455) client over node:net, for tests that must also send what a
// well-behaved client never would: unmasked frames, reserved bits, unknown opcodes, long or fragmented
// control frames, lengths that lie, bytes glued to the handshake.
//
//   import { connect, frame, OP } from './wsraw.mjs';
//   const h = await connect(port, { path: '/v1/live' });      // h.status, h.headers, h.json, h.ws (on 101)
//   h.ws.sendJson({ type: 'subscribe', id: 'q1', sql: 'SELECT 1' });
//   const m = await h.ws.nextJson(3000);                        // the next data message, parsed
//   h.ws.send(frame({ opcode: 0x3 }));                          // any frame at all
//   const c = await h.ws.waitClose(3000);                       // {code, reason}
//   await h.ws.waitEnd(3000);                                   // the server closed the TCP connection
//
// Every wait takes a deadline in ms and rejects with what arrived so far when it passes. The reader checks
// the server's frames as RFC 6455 asks of a server (unmasked, no reserved bits, known opcodes, short
// unfragmented control frames, shortest length form, UTF-8 text, nothing after a close) and lists every
// breach in ws.violations. Only 127.0.0.1 is ever contacted unless a host is given.
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

export const OP = Object.freeze({ CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xA });
export const RSV1 = 4, RSV2 = 2, RSV3 = 1;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KNOWN_OPCODES = new Set([0x0, 0x1, 0x2, 0x8, 0x9, 0xA]);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)) (RFC 6455 4.2.2). */
export function acceptKey(key) {
  return createHash('sha1').update(key + GUID, 'latin1').digest('base64');
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function newKey() {
  return randomBytes(16).toString('base64');
}

const toBuf = p => (p === undefined || p === null ? Buffer.alloc(0) : Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));

/**
 * The payload of a close frame: a 2-byte code and a UTF-8 reason (reason may be a Buffer to send bad bytes).
 * code undefined: an empty payload.
 */
export function closePayload(code, reason = '') {
  if (code === undefined) return Buffer.alloc(0);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, toBuf(reason)]);
}

/**
 * The bytes of one frame, as a client sends it — or does not:
 *   fin        true (default) or false
 *   rsv        the three reserved bits, 0..7 (RSV1 = 4, RSV2 = 2, RSV3 = 1); default 0
 *   opcode     0..15; default OP.TEXT
 *   payload    Buffer | string | Uint8Array; default empty
 *   mask       true (default): masked with maskKey (4 random bytes unless given); false: unmasked
 *   length     the length declared in the header (default: the payload's); the payload is sent as given,
 *              so a header can promise more bytes than follow
 *   lengthForm 7 | 16 | 64: the header's length field (default: the shortest that holds `length`)
 */
export function frame({ fin = true, rsv = 0, opcode = OP.TEXT, payload, mask = true, maskKey, length, lengthForm } = {}) {
  const body = toBuf(payload);
  const len = length ?? body.length;
  const form = lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const head = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (form === 7) head.push(m | len);
  else if (form === 16) { head.push(m | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(len); }
  else { head.push(m | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(BigInt(len)); }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, body]);
  const key = maskKey ? toBuf(maskKey) : randomBytes(4);
  const masked = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i++) masked[i] = body[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

/**
 * A message cut into frames: the first with `opcode`, the others continuations, FIN on the last only.
 * sizes: a fragment size (every fragment but maybe the last) or an array of sizes (the rest in one last
 * fragment). between: {index: Buffer} frames put after fragment `index` (e.g. a ping between fragments).
 */
export function fragments(opcode, payload, sizes, between = {}) {
  const body = toBuf(payload);
  const cuts = [];
  if (Array.isArray(sizes)) {
    let at = 0;
    for (const s of sizes) { cuts.push(body.subarray(at, at + s)); at += s; }
    if (at < body.length || cuts.length === 0) cuts.push(body.subarray(at));
  } else {
    for (let at = 0; at < body.length; at += sizes) cuts.push(body.subarray(at, at + sizes));
    if (cuts.length === 0) cuts.push(body);
  }
  const out = [];
  cuts.forEach((c, i) => {
    out.push(frame({ fin: i === cuts.length - 1, opcode: i === 0 ? opcode : OP.CONT, payload: c }));
    if (between[i]) out.push(toBuf(between[i]));
  });
  return out;
}

/** Reads one server frame at the start of buf: {need} when buf holds less than a whole frame, else {frame, used}. */
function parseFrame(buf) {
  if (buf.length < 2) return { need: 2 };
  const b0 = buf[0], b1 = buf[1];
  const f = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked: (b1 & 0x80) !== 0, minimal: true };
  let len = b1 & 0x7f, hdr = 2;
  if (len === 126) {
    if (buf.length < 4) return { need: 4 };
    len = buf.readUInt16BE(2); hdr = 4;
    if (len < 126) f.minimal = false;
  } else if (len === 127) {
    if (buf.length < 10) return { need: 10 };
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`server frame declares ${big} bytes`);
    len = Number(big); hdr = 10;
    if (len < 65536) f.minimal = false;
  }
  let key = null;
  if (f.masked) {
    if (buf.length < hdr + 4) return { need: hdr + 4 };
    key = buf.subarray(hdr, hdr + 4); hdr += 4;
  }
  if (buf.length < hdr + len) return { need: hdr + len };
  let payload = buf.subarray(hdr, hdr + len);
  if (key) { payload = Buffer.from(payload); for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]; }
  f.payload = payload;
  f.length = len;
  return { frame: f, used: hdr + len };
}

/**
 * One WebSocket connection after a 101. Events, in the order they happened, wait in a queue until a
 * take*() removes them:
 *   {type: 'message', opcode, data (Buffer), text (string | null when not UTF-8), json (undefined when not JSON), at}
 *   {type: 'ping' | 'pong', payload, at}
 *   {type: 'close', code (1005 for an empty payload), reason, payload, at}
 *   {type: 'end', error, at}       the TCP connection closed (error: the socket error, if any)
 * Options: autoPong (true): answer the server's pings; autoCloseReply (true): answer the server's close
 * with a close carrying its code (the TCP connection is left for the server to close, RFC 6455 7.1.1).
 */
export class WsConn {
  constructor(socket, leftover, { autoPong = true, autoCloseReply = true } = {}) {
    this.socket = socket;
    this.autoPong = autoPong;
    this.autoCloseReply = autoCloseReply;
    this.queue = [];
    this.history = [];          // short descriptions of every event, for failure messages
    this.violations = [];       // what the server sent that RFC 6455 does not allow
    this.frames = 0;            // frames received
    this.bytesIn = 0;
    this.closeSent = false;
    this.closeReceived = null;  // the close event, once one came
    this.ended = false;
    this.endedAt = 0;
    this._chunks = [];
    this._avail = 0;
    this._need = 2;
    this._msg = null;           // a fragmented message from the server being put together
    this._waiters = new Set();
    socket.on('data', d => this._onData(d));
    socket.on('error', err => this._end(err));
    socket.on('end', () => this._end(null));
    socket.on('close', () => this._end(null));
    if (leftover && leftover.length) this._onData(leftover);
  }

  // ---------------------------------------------------------------- sending
  /** Writes raw bytes (a Buffer, or an array of Buffers as one write). */
  send(bytes) {
    if (this.socket.destroyed) return false;
    const b = Array.isArray(bytes) ? Buffer.concat(bytes) : toBuf(bytes);
    return this.socket.write(b);
  }
  /** Writes each Buffer of the array as its own write. */
  sendEach(list) { for (const b of list) this.send(b); }
  /** A masked text frame (one fragment). */
  sendText(text) { return this.send(frame({ opcode: OP.TEXT, payload: text })); }
  /** A JSON object as one masked text frame. */
  sendJson(obj) { return this.sendText(JSON.stringify(obj)); }
  ping(payload) { return this.send(frame({ opcode: OP.PING, payload })); }
  pong(payload) { return this.send(frame({ opcode: OP.PONG, payload })); }
  /** A masked close frame (code undefined: empty payload). */
  close(code, reason = '') {
    this.closeSent = true;
    return this.send(frame({ opcode: OP.CLOSE, payload: closePayload(code, reason) }));
  }
  /** Drops the TCP connection at once, no close frame. */
  destroy() { this.socket.destroy(); }
  pause() { this.socket.pause(); }
  resume() { this.socket.resume(); }

  // ---------------------------------------------------------------- waiting
  /**
   * Removes and resolves the first queued event for which pred(event) holds, waiting up to ms for it.
   * Rejects at the deadline, or at once when the connection has ended (or a close came, unless
   * `untilClose` is false) with no such event before it.
   */
  take(pred, ms, what = 'event', { untilClose = true } = {}) {
    return new Promise((resolve, reject) => {
      const w = {};
      const check = () => {
        for (let i = 0; i < this.queue.length; i++) {
          const e = this.queue[i];
          if (pred(e)) { this.queue.splice(i, 1); finish(); resolve(e); return true; }
          if (e.type === 'end' || (untilClose && e.type === 'close')) {
            finish(); reject(new Error(`waiting for ${what}: the connection ${e.type === 'end' ? 'ended' : `was closed (${e.code} ${JSON.stringify(e.reason)})`} first\n${this.describe()}`));
            return true;
          }
        }
        return false;
      };
      const finish = () => { clearTimeout(w.timer); this._waiters.delete(w); };
      w.check = check;
      if (check()) return;
      w.timer = setTimeout(() => { finish(); reject(new Error(`no ${what} within ${ms} ms\n${this.describe()}`)); }, ms);
      this._waiters.add(w);
    });
  }
  /** The next data message (text or binary). */
  nextMessage(ms, what = 'message') { return this.take(e => e.type === 'message', ms, what); }
  /** The next data message, which must be a JSON text; resolves the parsed value. */
  async nextJson(ms, what = 'JSON message') {
    const e = await this.nextMessage(ms, what);
    if (e.json === undefined) throw new Error(`${what}: not a JSON text message: opcode ${e.opcode}, ${e.data.length} bytes: ${e.data.subarray(0, 200).toString('latin1')}`);
    return e.json;
  }
  /** The next JSON message for which pred(json) holds (other messages stay queued). */
  async nextJsonWhere(pred, ms, what = 'JSON message') {
    const e = await this.take(x => x.type === 'message' && x.json !== undefined && pred(x.json), ms, what);
    return e.json;
  }
  /** The next pong. */
  nextPong(ms) { return this.take(e => e.type === 'pong', ms, 'pong'); }
  /** The close frame from the server (data messages before it stay queued). */
  waitClose(ms) { return this.take(e => e.type === 'close', ms, 'close frame', { untilClose: false }); }
  /** The end of the TCP connection (resolves {at}); at once when it has already ended. */
  waitEnd(ms) { return this.take(e => e.type === 'end', ms, 'end of the TCP connection', { untilClose: false }).then(e => { this.queue.push(e); return e; }); }
  /** Every queued JSON message that pred accepts, taken out of the queue, waiting ms first. */
  async collect(ms, pred = () => true) {
    await new Promise(r => setTimeout(r, ms));
    return this.drain(pred);
  }
  /** Takes out every JSON message already queued for which pred holds (no wait). */
  drain(pred = () => true) {
    const out = [];
    this.queue = this.queue.filter(e => {
      if (e.type === 'message' && e.json !== undefined && pred(e.json)) { out.push(e.json); return false; }
      return true;
    });
    return out;
  }
  /** The queued events, for looking (not taken). */
  pending() { return this.queue.slice(); }
  /** The last events and violations, for failure messages. */
  describe() {
    const tail = this.history.slice(-12).join('\n  ');
    return `  events (last ${Math.min(12, this.history.length)} of ${this.history.length}):\n  ${tail || '(none)'}` +
      (this.violations.length ? `\n  violations: ${this.violations.join('; ')}` : '');
  }

  // ---------------------------------------------------------------- reading
  _push(e) {
    e.at = Date.now();
    this.queue.push(e);
    let d;
    if (e.type === 'message') d = `message op=${e.opcode} ${e.data.length} B: ${(e.text ?? '<not UTF-8>').slice(0, 160)}`;
    else if (e.type === 'close') d = `close ${e.code} ${JSON.stringify(e.reason)}`;
    else if (e.type === 'end') d = `end${e.error ? ` (${e.error.code || e.error.message})` : ''}`;
    else d = `${e.type} ${e.payload.length} B`;
    this.history.push(d);
    if (this.history.length > 200) this.history.splice(0, 100);
    for (const w of [...this._waiters]) w.check();
  }
  _end(err) {
    if (this.ended) return;
    this.ended = true;
    this.endedAt = Date.now();
    this.endError = err;
    this._push({ type: 'end', error: err });
  }
  _onData(chunk) {
    this.bytesIn += chunk.length;
    this._chunks.push(chunk);
    this._avail += chunk.length;
    for (;;) {
      if (this._avail < this._need) return;
      const buf = this._chunks.length === 1 ? this._chunks[0] : Buffer.concat(this._chunks, this._avail);
      this._chunks = [buf];
      let r;
      try { r = parseFrame(buf); } catch (e) { this.violations.push(e.message); this.socket.destroy(); return; }
      if (r.need) { this._need = r.need; return; }
      const rest = buf.subarray(r.used);
      this._chunks = rest.length ? [rest] : [];
      this._avail = rest.length;
      this._need = 2;
      this._onFrame(r.frame);
    }
  }
  _onFrame(f) {
    this.frames++;
    const v = s => this.violations.push(`frame ${this.frames} (opcode ${f.opcode}): ${s}`);
    if (this.closeReceived) v('a frame after the close frame');
    if (f.masked) v('masked by the server');
    if (f.rsv) v(`reserved bits ${f.rsv}`);
    if (!f.minimal) v(`length ${f.length} not in its shortest form`);
    if (!KNOWN_OPCODES.has(f.opcode)) { v('unknown opcode'); return; }
    if (f.opcode >= 0x8) {
      if (!f.fin) v('fragmented control frame');
      if (f.length > 125) v(`control frame of ${f.length} bytes`);
      const payload = Buffer.from(f.payload);
      if (f.opcode === OP.PING) {
        this._push({ type: 'ping', payload });
        if (this.autoPong && !this.closeSent) this.pong(payload);
      } else if (f.opcode === OP.PONG) {
        this._push({ type: 'pong', payload });
      } else {
        let code = 1005, reason = '';
        if (payload.length === 1) v('close payload of 1 byte');
        if (payload.length >= 2) {
          code = payload.readUInt16BE(0);
          try { reason = utf8.decode(payload.subarray(2)); } catch { v('close reason not UTF-8'); reason = payload.subarray(2).toString('latin1'); }
        }
        const e = { type: 'close', code, reason, payload };
        this.closeReceived = e;
        if (this.autoCloseReply && !this.closeSent) this.close(code === 1005 ? undefined : code);
        this._push(e);
      }
      return;
    }
    if (f.opcode === OP.CONT) {
      if (!this._msg) { v('continuation with no message begun'); return; }
      this._msg.parts.push(Buffer.from(f.payload));
    } else {
      if (this._msg) v('a new data frame while a fragmented message is open');
      this._msg = { opcode: f.opcode, parts: [Buffer.from(f.payload)] };
    }
    if (!f.fin) return;
    const { opcode, parts } = this._msg;
    this._msg = null;
    const data = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    let text = null, json;
    if (opcode === OP.TEXT) {
      try { text = utf8.decode(data); } catch { v('text message not UTF-8'); }
      if (text !== null) { try { json = JSON.parse(text); } catch { json = undefined; } }
    }
    this._push({ type: 'message', opcode, data, text, json });
  }
}

/**
 * Opens a TCP connection and sends an upgrade request:
 *   GET {path} HTTP/1.1, Host, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version: 13
 * opts: host ('127.0.0.1'), path ('/v1/live'), method ('GET'), key (a fresh one), headers (added or replacing
 * the defaults, case-insensitively; a null value removes one), body (sent after the headers, with
 * Content-Length unless headers set it), extra (bytes sent in the same write, right after the request),
 * timeout (ms for the answer's head, default 5000), ws options (autoPong, autoCloseReply).
 * Resolves {status, statusText, headers (lower-case names), body (Buffer), json, key, ws}: ws is a WsConn on a
 * 101 (the bytes after the head are its first frames); otherwise the connection is closed once the body
 * (per Content-Length, or until the server closes) has come, and ws is null.
 */
export function connect(port, opts = {}) {
  const { host = '127.0.0.1', path = '/v1/live', method = 'GET', key = newKey(), headers = {}, body, extra, timeout = 5000 } = opts;
  const h = new Map([
    ['host', ['Host', `${host}:${port}`]],
    ['upgrade', ['Upgrade', 'websocket']],
    ['connection', ['Connection', 'Upgrade']],
    ['sec-websocket-key', ['Sec-WebSocket-Key', key]],
    ['sec-websocket-version', ['Sec-WebSocket-Version', '13']],
  ]);
  for (const [k, val] of Object.entries(headers)) {
    if (val === null || val === undefined) h.delete(k.toLowerCase());
    else h.set(k.toLowerCase(), [k, String(val)]);
  }
  const bodyBuf = body === undefined ? null : toBuf(body);
  if (bodyBuf && !h.has('content-length') && !h.has('transfer-encoding')) h.set('content-length', ['Content-Length', String(bodyBuf.length)]);
  let req = `${method} ${path} HTTP/1.1\r\n`;
  for (const [, [k, val]] of h) req += `${k}: ${val}\r\n`;
  req += '\r\n';
  const out = [Buffer.from(req, 'latin1')];
  if (bodyBuf) out.push(bodyBuf);
  if (extra) out.push(Array.isArray(extra) ? Buffer.concat(extra) : toBuf(extra));

  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0), head = null, done = false;
    const timer = setTimeout(() => fail(new Error(`no complete answer to ${method} ${path} within ${timeout} ms (got ${buf.length} bytes: ${buf.subarray(0, 300).toString('latin1')})`)), timeout);
    function fail(err) { if (done) return; done = true; clearTimeout(timer); socket.destroy(); reject(err); }
    function finishPlain() {
      if (done) return;
      done = true; clearTimeout(timer);
      socket.destroy();
      const len = head.headers['content-length'] !== undefined ? Number(head.headers['content-length']) : buf.length;
      const b = buf.subarray(0, len);
      let json;
      try { json = JSON.parse(b.toString('utf8')); } catch { json = undefined; }
      resolve({ ...head, body: b, json, key, ws: null });
    }
    const onData = d => {
      buf = Buffer.concat([buf, d]);
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) { if (buf.length > 65536) fail(new Error('answer head over 64 KiB')); return; }
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]);
        if (!m) return fail(new Error(`bad status line ${JSON.stringify(lines[0])}`));
        const hd = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          const name = l.slice(0, i).trim().toLowerCase(), val = l.slice(i + 1).trim();
          hd[name] = name in hd ? `${hd[name]}, ${val}` : val;
        }
        head = { status: Number(m[1]), statusText: m[2], headers: hd, rawHead: lines.join('\n') };
        buf = buf.subarray(end + 4);
        if (head.status === 101) {
          done = true; clearTimeout(timer);
          socket.off('data', onData); socket.off('end', onEnd); socket.off('error', onErr);
          const ws = new WsConn(socket, buf, opts);
          resolve({ ...head, body: Buffer.alloc(0), json: undefined, key, ws });
          return;
        }
      }
      const len = head.headers['content-length'];
      if (len !== undefined && buf.length >= Number(len)) finishPlain();
    };
    const onEnd = () => { if (head) finishPlain(); else fail(new Error(`connection closed before an answer (got ${buf.length} bytes)`)); };
    const onErr = err => { if (head) finishPlain(); else fail(err); };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onErr);
    socket.on('connect', () => socket.write(Buffer.concat(out)));
  });
}
