// A pickle virtual machine that executes nothing: it implements the opcodes a PyTorch `state_dict` pickle uses
// (protocols 0–5, data only) and hands every global it meets to an allow-list the caller supplies. A global the
// list does not know (`os.system`, `builtins.eval`, a model class) is refused with its name before anything is
// built from it, and opcodes that instantiate classes by name (INST, OBJ, EXT*) or reach outside the byte stream
// (NEXT_BUFFER) are refused outright. Same promise as `torch.load(weights_only=True)`, with no Python at all.
//
// The machine is linear in its input (every opcode consumes at least one byte), keeps no recursion, and bounds the
// only values a hostile file could inflate (text integers, LONG4 widths), so any byte string ends, quickly, in a
// value or a located UserError.

import { UserError } from '../errors';

/** A Python tuple (immutable; a list is a plain JS array). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict (or OrderedDict): keys by value for str/int/float/bool/None, by identity for anything else. */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  /** State given by BUILD (an OrderedDict's `_metadata`): kept, never interpreted. */
  state?: PyValue;
  constructor(readonly className = 'dict') {}
}

export class PySet {
  constructor(readonly items: PyValue[], readonly frozen = false) {}
}

/** A global the allow-list resolved: something REDUCE/NEWOBJ may call, or a marker value (a storage type). */
export interface PyGlobal {
  readonly kind: 'global';
  readonly module: string;
  readonly name: string;
  /** Builds the value REDUCE/NEWOBJ asks for; absent for globals that are only ever passed as data. */
  call?(args: PyValue[], at: number): PyValue;
}

/** A value some allowed global built (a tensor, a storage): opaque to the machine. */
export interface PyOpaque {
  readonly kind: 'opaque';
  readonly type: string;
  /** BUILD's state, when the object accepts one; absent refuses BUILD. */
  setState?(state: PyValue, at: number): void;
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict | PySet | PyGlobal | PyOpaque;

export interface UnpicklePolicy {
  /** The allowed global `module.name`, or undefined to refuse it. */
  findGlobal(module: string, name: string): PyGlobal | undefined;
  /** Resolves a persistent id (PyTorch's storages); undefined refuses persistent ids. */
  persistentLoad?(pid: PyValue, at: number): PyValue;
  /** What the file is, for messages ("data.pkl of model.pt"). */
  source: string;
  file?: string;
}

/** Python ints wider than this many bytes are refused: a state_dict's integers are sizes and strides. */
const MAX_LONG_BYTES = 64;
const MAX_TEXT_INT_DIGITS = 200;

const OPCODE_NAMES: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

export interface UnpickleResult {
  value: PyValue;
  /** Offset just past the STOP opcode (PyTorch's legacy format writes several pickles back to back). */
  end: number;
}

/** Runs the pickle in `bytes` from `start` to its STOP opcode. */
export function unpickle(bytes: Uint8Array, policy: UnpicklePolicy, start = 0): UnpickleResult {
  return new Machine(bytes, policy, start).run();
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

class Machine {
  private pos: number;
  private stack: Slot[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;
  private opAt = 0;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly bytes: Uint8Array, private readonly policy: UnpicklePolicy, start: number) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(message: string, code = 'corrupt-weights'): UserError {
    return new UserError(code, `${this.policy.source}, byte ${this.opAt}: ${message}`, { file: this.policy.file });
  }

  private take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.bytes.length) throw this.fail(`needs ${n} more bytes but the pickle ends (truncated?)`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private u8(): number {
    return this.take(1)[0];
  }

  private u16(): number {
    const b = this.take(2);
    return b[0] | (b[1] << 8);
  }

  private u32(): number {
    const at = this.pos;
    this.take(4);
    return this.view.getUint32(at, true);
  }

  private i32(): number {
    const at = this.pos;
    this.take(4);
    return this.view.getInt32(at, true);
  }

  private u64(): number {
    const at = this.pos;
    this.take(8);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(this.bytes.length)) throw this.fail(`a length of ${v} bytes is past the end of the pickle`);
    return Number(v);
  }

  /** A text line (protocol 0 operands), without its newline. */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.fail('a text operand has no terminating newline (truncated?)');
    const s = new TextDecoder('latin1').decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private text(bytes: Uint8Array): string {
    try {
      return this.utf8.decode(bytes);
    } catch {
      throw this.fail('a string is not valid UTF-8');
    }
  }

  private push(v: PyValue): void {
    this.stack.push(v);
  }

  private pop(): PyValue {
    if (this.stack.length === 0) throw this.fail('pops an empty stack');
    const v = this.stack.pop()!;
    if (v === MARK) throw this.fail('pops a MARK where a value was expected');
    return v;
  }

  private top(): PyValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) throw this.fail('expects a value on the stack');
    return v;
  }

  /** The values above the topmost MARK, removing them and the mark. */
  private popMark(): PyValue[] {
    let i = this.stack.length - 1;
    while (i >= 0 && this.stack[i] !== MARK) i--;
    if (i < 0) throw this.fail('no MARK on the stack');
    const items = this.stack.slice(i + 1) as PyValue[];
    this.stack.length = i;
    return items;
  }

  private memoGet(index: number): PyValue {
    if (!this.memo.has(index)) throw this.fail(`reads memo slot ${index}, which was never stored`);
    return this.memo.get(index)!;
  }

  private memoPut(index: number): void {
    this.memo.set(index, this.top());
  }

  private global(module: string, name: string): PyGlobal {
    const g = this.policy.findGlobal(module, name);
    if (!g) {
      throw this.fail(`refuses the global '${module}.${name}': a checkpoint is read as data, and only the globals a state_dict needs are allowed (save model.state_dict(), not the model object or code)`, 'unsafe-checkpoint');
    }
    return g;
  }

  private callable(v: PyValue, what: string): PyGlobal & { call: NonNullable<PyGlobal['call']> } {
    if (typeof v === 'object' && v !== null && 'kind' in v && v.kind === 'global' && v.call) return v as PyGlobal & { call: NonNullable<PyGlobal['call']> };
    const name = typeof v === 'object' && v !== null && 'kind' in v && v.kind === 'global' ? `'${v.module}.${v.name}'` : describe(v);
    throw this.fail(`${what} calls ${name}, which is not callable here`, 'unsafe-checkpoint');
  }

  private dictOf(v: PyValue, what: string): PyDict {
    if (v instanceof PyDict) return v;
    throw this.fail(`${what} on ${describe(v)}, not a dict`);
  }

  private listOf(v: PyValue, what: string): PyValue[] {
    if (Array.isArray(v)) return v;
    throw this.fail(`${what} on ${describe(v)}, not a list`);
  }

  private longFrom(b: Uint8Array): number | bigint {
    if (b.length === 0) return 0;
    if (b.length > MAX_LONG_BYTES) throw this.fail(`an integer of ${b.length} bytes is wider than any a state_dict holds`);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }

  private textInt(s: string): number | bigint {
    const t = s.trim().replace(/L$/, '');
    if (t.length > MAX_TEXT_INT_DIGITS || !/^[+-]?\d+$/.test(t)) throw this.fail(`'${s.slice(0, 40)}' is not an integer`);
    const v = BigInt(t);
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }

  run(): UnpickleResult {
    for (;;) {
      this.opAt = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) throw this.fail(`pickle protocol ${v} is newer than any Python writes (5)`);
          break;
        }
        case 0x95: this.take(8); break; // FRAME: a length hint only
        case 0x2e: { // STOP
          const value = this.pop();
          return { value, end: this.pos };
        }
        case 0x28: this.stack.push(MARK); break; // MARK
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.push(this.top()); break; // DUP

        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x8a: this.push(this.longFrom(this.take(this.u8()))); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) throw this.fail('LONG4 with a negative length');
          this.push(this.longFrom(this.take(n)));
          break;
        }
        case 0x49: { // INT (text); '00'/'01' are protocol 0's False/True
          const s = this.line();
          this.push(s === '00' ? false : s === '01' ? true : this.textInt(s));
          break;
        }
        case 0x4c: this.push(this.textInt(this.line())); break; // LONG (text)
        case 0x47: { // BINFLOAT (big-endian double)
          const at = this.pos;
          this.take(8);
          this.push(this.view.getFloat64(at, false));
          break;
        }
        case 0x46: { // FLOAT (text)
          const s = this.line().trim();
          const v = Number(s);
          if (!/^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+|inf|nan)$/i.test(s) || (Number.isNaN(v) && !/nan/i.test(s))) throw this.fail(`'${s.slice(0, 40)}' is not a float`);
          this.push(v);
          break;
        }

        case 0x58: this.push(this.text(this.take(this.u32()))); break; // BINUNICODE
        case 0x8c: this.push(this.text(this.take(this.u8()))); break; // SHORT_BINUNICODE
        case 0x8d: this.push(this.text(this.take(this.u64()))); break; // BINUNICODE8
        case 0x56: this.push(this.line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))); break; // UNICODE
        case 0x54: { // BINSTRING (Python 2 str: read as latin-1 text)
          const n = this.i32();
          if (n < 0) throw this.fail('BINSTRING with a negative length');
          this.push(new TextDecoder('latin1').decode(this.take(n)));
          break;
        }
        case 0x55: this.push(new TextDecoder('latin1').decode(this.take(this.u8()))); break; // SHORT_BINSTRING
        case 0x53: { // STRING (text, quoted)
          const s = this.line();
          const m = /^(['"])(.*)\1$/s.exec(s);
          if (!m) throw this.fail('a STRING operand is not quoted');
          this.push(m[2]);
          break;
        }
        case 0x42: this.push(this.take(this.u32()).slice()); break; // BINBYTES
        case 0x43: this.push(this.take(this.u8()).slice()); break; // SHORT_BINBYTES
        case 0x8e: this.push(this.take(this.u64()).slice()); break; // BINBYTES8
        case 0x96: this.push(this.take(this.u64()).slice()); break; // BYTEARRAY8

        case 0x29: this.push(new PyTuple([])); break; // EMPTY_TUPLE
        case 0x74: this.push(new PyTuple(this.popMark())); break; // TUPLE
        case 0x85: this.push(new PyTuple([this.pop()])); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b])); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b, c])); break; } // TUPLE3
        case 0x5d: this.push([]); break; // EMPTY_LIST
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x61: { const v = this.pop(); this.listOf(this.top(), 'APPEND').push(v); break; } // APPEND
        case 0x65: { const items = this.popMark(); const l = this.listOf(this.top(), 'APPENDS'); for (const v of items) l.push(v); break; } // APPENDS
        case 0x7d: this.push(new PyDict()); break; // EMPTY_DICT
        case 0x64: { // DICT
          const items = this.popMark();
          if (items.length % 2) throw this.fail('DICT with an odd number of items');
          const d = new PyDict();
          for (let i = 0; i < items.length; i += 2) d.map.set(items[i], items[i + 1]);
          this.push(d);
          break;
        }
        case 0x73: { const v = this.pop(); const k = this.pop(); this.dictOf(this.top(), 'SETITEM').map.set(k, v); break; } // SETITEM
        case 0x75: { // SETITEMS
          const items = this.popMark();
          if (items.length % 2) throw this.fail('SETITEMS with an odd number of items');
          const d = this.dictOf(this.top(), 'SETITEMS');
          for (let i = 0; i < items.length; i += 2) d.map.set(items[i], items[i + 1]);
          break;
        }
        case 0x8f: this.push(new PySet([])); break; // EMPTY_SET
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet) || s.frozen) throw this.fail(`ADDITEMS on ${describe(s)}, not a set`);
          s.items.push(...items);
          break;
        }
        case 0x91: this.push(new PySet(this.popMark(), true)); break; // FROZENSET

        case 0x67: this.push(this.memoGet(Number(this.textInt(this.line())))); break; // GET
        case 0x68: this.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.push(this.memoGet(this.u32())); break; // LONG_BINGET
        case 0x70: this.memoPut(Number(this.textInt(this.line()))); break; // PUT
        case 0x71: this.memoPut(this.u8()); break; // BINPUT
        case 0x72: this.memoPut(this.u32()); break; // LONG_BINPUT
        case 0x94: this.memoPut(this.memo.size); break; // MEMOIZE

        case 0x63: { // GLOBAL: 'module\nname\n'
          const module = this.line();
          const name = this.line();
          this.push(this.global(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw this.fail('STACK_GLOBAL needs two strings');
          this.push(this.global(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const f = this.callable(this.pop(), 'REDUCE');
          if (!(args instanceof PyTuple)) throw this.fail(`REDUCE of '${f.module}.${f.name}' with ${describe(args)} as arguments, not a tuple`);
          this.push(f.call(args.items, this.opAt));
          break;
        }
        case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
          const args = this.pop();
          const f = this.callable(this.pop(), 'NEWOBJ');
          if (!(args instanceof PyTuple)) throw this.fail(`NEWOBJ of '${f.module}.${f.name}' with ${describe(args)} as arguments`);
          this.push(f.call(args.items, this.opAt));
          break;
        }
        case 0x92: { // NEWOBJ_EX: keyword arguments must be empty
          const kwargs = this.pop();
          const args = this.pop();
          const f = this.callable(this.pop(), 'NEWOBJ_EX');
          if (!(args instanceof PyTuple) || !(kwargs instanceof PyDict) || kwargs.map.size) throw this.fail(`NEWOBJ_EX of '${f.module}.${f.name}' with keyword arguments`);
          this.push(f.call(args.items, this.opAt));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          const obj = this.top();
          if (obj instanceof PyDict) obj.state = state;
          else if (typeof obj === 'object' && obj !== null && 'kind' in obj && obj.kind === 'opaque' && obj.setState) obj.setState(state, this.opAt);
          else throw this.fail(`BUILD sets state on ${describe(obj)}, which takes none`, 'unsafe-checkpoint');
          break;
        }
        case 0x51: { // BINPERSID
          const pid = this.pop();
          if (!this.policy.persistentLoad) throw this.fail('a persistent id where none is expected', 'unsafe-checkpoint');
          this.push(this.policy.persistentLoad(pid, this.opAt));
          break;
        }
        case 0x50: { // PERSID (text)
          const pid = this.line();
          if (!this.policy.persistentLoad) throw this.fail('a persistent id where none is expected', 'unsafe-checkpoint');
          this.push(this.policy.persistentLoad(pid, this.opAt));
          break;
        }
        default: {
          const name = OPCODE_NAMES[op];
          if (name) throw this.fail(`refuses the opcode ${name}: it builds objects from names outside the allow-list`, 'unsafe-checkpoint');
          throw this.fail(`0x${op.toString(16).padStart(2, '0')} is not a pickle opcode (not a pickle, or a corrupt one)`);
        }
      }
    }
  }
}

/** A short description of a value for messages. */
export function describe(v: PyValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `the string '${v.length > 40 ? v.slice(0, 40) + '…' : v}'`;
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${v}`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PyDict) return `a ${v.className}`;
  if (v instanceof PySet) return 'a set';
  if (v.kind === 'global') return `the global '${v.module}.${v.name}'`;
  return `a ${v.type}`;
}
