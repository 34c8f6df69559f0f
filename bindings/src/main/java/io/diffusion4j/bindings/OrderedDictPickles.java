package io.diffusion4j.bindings;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;

/**
 * Lets LibTorch's unpickler read the state dicts that Python's {@code torch.save(module.state_dict())} writes: a
 * {@code collections.OrderedDict}, usually with a {@code _metadata} attribute. LibTorch maps {@code OrderedDict} to
 * None (it expects one only as a tensor's unused backward hooks) and has no POP opcode, so such a file fails
 * there. torch.save's protocol-2 pickle of one has a fixed shape:
 * <pre>
 *   PROTO 2; GLOBAL collections.OrderedDict; BINPUT 0; EMPTY_TUPLE; REDUCE; BINPUT 1;
 *   (MARK name tensor ... SETITEMS | name tensor SETITEM)*;
 *   [EMPTY_DICT BINPUT '_metadata' ... SETITEM; BUILD]; STOP
 * </pre>
 * which this class rewrites to {@code PROTO 2; GLOBAL ...; BINPUT 0; EMPTY_DICT; BINPUT 1; items; TUPLE2; STOP}: the
 * OrderedDict global stays in memo 0 for the tensors' hooks and under the dict on the stack, the {@code _metadata}
 * state is dropped, and the result is the tuple {@code (OrderedDict, dict)} whose second element is the state
 * dict.
 *
 * <p>The archive is not rebuilt: the file's bytes up to its central directory stay as they are, and a {@link Plan}
 * says what to put after them — a new {@code data.pkl} record and a central directory pointing at it (the old
 * record stays as unused bytes). So the tensors' bytes are copied once, from the file to LibTorch's buffer.
 */
final class OrderedDictPickles {
    private static final byte[] PREFIX = "\u0080\u0002ccollections\nOrderedDict\nq\u0000)Rq\u0001"
            .getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[] METADATA_KEY = "X\t\u0000\u0000\u0000_metadata".getBytes(StandardCharsets.ISO_8859_1);

    /** Keep the file's first {@code keep} bytes, then append {@code tail}. */
    record Plan(long keep, byte[] tail) {
    }

    private OrderedDictPickles() {
    }

    /**
     * The plan for the torch.save archive open on {@code ch}, or null if its {@code data.pkl} is not an OrderedDict
     * state dict of the shape above (zip64 archives and compressed records are left alone too).
     */
    static Plan plan(FileChannel ch) throws IOException {
        long size = ch.size();
        int tailLen = (int) Math.min(size, 22 + 65_535);
        ByteBuffer tail = read(ch, size - tailLen, tailLen);
        int eocd = -1;
        for (int i = tailLen - 22; i >= 0; i--) {
            if (tail.getInt(i) == 0x06054b50) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            return null;
        }
        int entries = Short.toUnsignedInt(tail.getShort(eocd + 10));
        long cdSize = Integer.toUnsignedLong(tail.getInt(eocd + 12));
        long cdStart = Integer.toUnsignedLong(tail.getInt(eocd + 16));
        long eocdAt = size - tailLen + eocd;
        if (entries == 0xFFFF || cdStart == 0xFFFFFFFFL || cdStart + cdSize > eocdAt || cdSize > 64L << 20) {
            return null; // zip64 or inconsistent
        }
        byte[] eocdBytes = new byte[tailLen - eocd];
        tail.get(eocd, eocdBytes);
        ByteBuffer cd = read(ch, cdStart, (int) cdSize);
        int pos = 0;
        for (int k = 0; k < entries; k++) {
            if (pos + 46 > cdSize || cd.getInt(pos) != 0x02014b50) {
                return null;
            }
            int nameLen = Short.toUnsignedInt(cd.getShort(pos + 28));
            int extraLen = Short.toUnsignedInt(cd.getShort(pos + 30));
            int commentLen = Short.toUnsignedInt(cd.getShort(pos + 32));
            if (pos + 46 + nameLen > cdSize) {
                return null;
            }
            byte[] nameBytes = new byte[nameLen];
            cd.get(pos + 46, nameBytes);
            String name = new String(nameBytes, StandardCharsets.UTF_8);
            if (name.equals("data.pkl") || name.endsWith("/data.pkl")) {
                return planFor(ch, cd, pos, nameBytes, cdStart, eocdBytes);
            }
            pos += 46 + nameLen + extraLen + commentLen;
        }
        return null;
    }

    private static Plan planFor(FileChannel ch, ByteBuffer cd, int entry, byte[] name, long cdStart, byte[] eocd)
            throws IOException {
        int method = Short.toUnsignedInt(cd.getShort(entry + 10));
        long size = Integer.toUnsignedLong(cd.getInt(entry + 20));
        long local = Integer.toUnsignedLong(cd.getInt(entry + 42));
        if (method != 0 || size == 0xFFFFFFFFL || local == 0xFFFFFFFFL || size > 64L << 20 || local + 30 > cdStart) {
            return null;
        }
        ByteBuffer header = read(ch, local, 30);
        if (header.getInt(0) != 0x04034b50) {
            return null;
        }
        long data = local + 30 + Short.toUnsignedInt(header.getShort(26)) + Short.toUnsignedInt(header.getShort(28));
        if (data + size > cdStart) {
            return null;
        }
        byte[] pkl = new byte[(int) size];
        read(ch, data, (int) size).get(0, pkl);
        byte[] fixed = rewritePickle(pkl);
        if (fixed == null) {
            return null;
        }
        CRC32 crc32 = new CRC32();
        crc32.update(fixed);
        int crc = (int) crc32.getValue();

        int localLen = 30 + name.length;
        ByteBuffer out = ByteBuffer.allocate(localLen + fixed.length + cd.capacity() + eocd.length)
                .order(ByteOrder.LITTLE_ENDIAN);
        // the new local record: stored, no flags, no extra field
        out.putInt(0x04034b50).putShort((short) 20).putShort((short) 0).putShort((short) 0)
                .putShort((short) 0).putShort((short) 0).putInt(crc).putInt(fixed.length).putInt(fixed.length)
                .putShort((short) name.length).putShort((short) 0).put(name).put(fixed);
        // the central directory, with data.pkl's entry pointing at the new record
        int cdAt = out.position();
        cd.position(0);
        out.put(cd);
        int e = cdAt + entry;
        out.putShort(e + 8, (short) 0); // flags: no data descriptor
        out.putInt(e + 16, crc).putInt(e + 20, fixed.length).putInt(e + 24, fixed.length);
        out.putInt(e + 42, (int) cdStart);
        // end of central directory: same entries and size, new offset
        int eocdAt = out.position();
        out.put(eocd);
        out.putInt(eocdAt + 16, (int) (cdStart + localLen + fixed.length));
        if (cdStart + out.capacity() > 0xFFFFFFFFL) {
            return null;
        }
        return new Plan(cdStart, out.array());
    }

    /** The rewritten pickle, or null if {@code pkl} is not an OrderedDict state dict of the expected shape. */
    static byte[] rewritePickle(byte[] pkl) {
        int end = pkl.length;
        if (end < PREFIX.length + 2 || pkl[end - 1] != '.' || !matches(pkl, 0, PREFIX)) {
            return null;
        }
        int bodyEnd = end - 1; // before STOP
        if (pkl[end - 2] == 'b') {
            // the BUILD state: EMPTY_DICT, BINPUT n (or LONG_BINPUT n), then the '_metadata' key
            int state = -1;
            for (int i = end - METADATA_KEY.length; i > PREFIX.length && state < 0; i--) {
                if (matches(pkl, i, METADATA_KEY)) {
                    if (pkl[i - 3] == '}' && pkl[i - 2] == 'q') {
                        state = i - 3;
                    } else if (pkl[i - 6] == '}' && pkl[i - 5] == 'r') {
                        state = i - 6;
                    }
                }
            }
            if (state < 0) {
                return null;
            }
            bodyEnd = state;
        }
        ByteArrayOutputStream p = new ByteArrayOutputStream(end + 2);
        p.write(pkl, 0, PREFIX.length - 4); // PROTO 2; GLOBAL collections.OrderedDict; BINPUT 0
        p.write('}'); // EMPTY_DICT instead of EMPTY_TUPLE REDUCE
        p.write(pkl, PREFIX.length - 2, bodyEnd - (PREFIX.length - 2)); // BINPUT 1; the items
        p.write(0x86); // TUPLE2 (OrderedDict global, the dict)
        p.write('.');
        return p.toByteArray();
    }

    private static ByteBuffer read(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        SafetensorsHeader.readFully(ch, b, position, "state dict");
        return b.flip();
    }

    private static boolean matches(byte[] a, int at, byte[] pattern) {
        for (int i = 0; i < pattern.length; i++) {
            if (a[at + i] != pattern[i]) {
                return false;
            }
        }
        return true;
    }
}
