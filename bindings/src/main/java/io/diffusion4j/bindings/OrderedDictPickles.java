package io.diffusion4j.bindings;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

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
 * dict. The zip archive is rebuilt around the new {@code data.pkl} (torch.save stores every record uncompressed).
 */
final class OrderedDictPickles {
    private static final byte[] PREFIX = "\u0080\u0002ccollections\nOrderedDict\nq\u0000)Rq\u0001"
            .getBytes(StandardCharsets.ISO_8859_1);
    private static final byte[] METADATA_KEY = "X\t\u0000\u0000\u0000_metadata".getBytes(StandardCharsets.ISO_8859_1);

    private OrderedDictPickles() {
    }

    /**
     * The archive {@code zip} (a torch.save file) with its OrderedDict state-dict pickle rewritten as above, or null
     * if its {@code data.pkl} does not have that shape (then it is left to LibTorch as it is).
     */
    static byte[] rewrite(byte[] zip) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = -1;
        for (int i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
            if (b.getInt(i) == 0x06054b50) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            return null;
        }
        int entries = Short.toUnsignedInt(b.getShort(eocd + 10));
        long cd = Integer.toUnsignedLong(b.getInt(eocd + 16));
        String[] names = new String[entries];
        int[] starts = new int[entries];
        int[] sizes = new int[entries];
        int pickle = -1;
        for (int k = 0; k < entries; k++) {
            if (cd + 46 > zip.length || b.getInt((int) cd) != 0x02014b50) {
                return null;
            }
            int c = (int) cd;
            int method = Short.toUnsignedInt(b.getShort(c + 10));
            int nameLen = Short.toUnsignedInt(b.getShort(c + 28));
            int extraLen = Short.toUnsignedInt(b.getShort(c + 30));
            int commentLen = Short.toUnsignedInt(b.getShort(c + 32));
            long size = Integer.toUnsignedLong(b.getInt(c + 20));
            long local = Integer.toUnsignedLong(b.getInt(c + 42));
            if (method != 0 || size == 0xFFFFFFFFL || local == 0xFFFFFFFFL || c + 46 + nameLen > zip.length
                    || local + 30 > zip.length || b.getInt((int) local) != 0x04034b50) {
                return null; // compressed, zip64 or odd: leave it to LibTorch
            }
            names[k] = new String(zip, c + 46, nameLen, StandardCharsets.UTF_8);
            int l = (int) local;
            long data = local + 30 + Short.toUnsignedInt(b.getShort(l + 26)) + Short.toUnsignedInt(b.getShort(l + 28));
            if (data + size > zip.length) {
                return null;
            }
            starts[k] = (int) data;
            sizes[k] = (int) size;
            if (names[k].equals("data.pkl") || names[k].endsWith("/data.pkl")) {
                pickle = k;
            }
            cd += 46L + nameLen + extraLen + commentLen;
        }
        if (pickle < 0) {
            return null;
        }
        byte[] pkl = rewritePickle(zip, starts[pickle], sizes[pickle]);
        if (pkl == null) {
            return null;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(zip.length + 64);
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            for (int k = 0; k < entries; k++) {
                boolean isPickle = k == pickle;
                int off = isPickle ? 0 : starts[k];
                int len = isPickle ? pkl.length : sizes[k];
                byte[] src = isPickle ? pkl : zip;
                ZipEntry e = new ZipEntry(names[k]);
                e.setMethod(ZipEntry.STORED);
                e.setSize(len);
                e.setCompressedSize(len);
                CRC32 crc = new CRC32();
                crc.update(src, off, len);
                e.setCrc(crc.getValue());
                z.putNextEntry(e);
                z.write(src, off, len);
                z.closeEntry();
            }
        }
        return out.toByteArray();
    }

    private static byte[] rewritePickle(byte[] zip, int start, int size) {
        int end = start + size;
        if (size < PREFIX.length + 2 || zip[end - 1] != '.') {
            return null;
        }
        for (int i = 0; i < PREFIX.length; i++) {
            if (zip[start + i] != PREFIX[i]) {
                return null;
            }
        }
        int bodyEnd = end - 1; // before STOP
        if (zip[end - 2] == 'b') {
            // the BUILD state: EMPTY_DICT, BINPUT n (or LONG_BINPUT n), then the '_metadata' key
            int state = -1;
            for (int i = end - METADATA_KEY.length; i > start + PREFIX.length && state < 0; i--) {
                if (matches(zip, i, METADATA_KEY)) {
                    if (i >= 3 && zip[i - 3] == '}' && zip[i - 2] == 'q') {
                        state = i - 3;
                    } else if (i >= 6 && zip[i - 6] == '}' && zip[i - 5] == 'r') {
                        state = i - 6;
                    }
                }
            }
            if (state < 0) {
                return null;
            }
            bodyEnd = state;
        }
        ByteArrayOutputStream p = new ByteArrayOutputStream(size + 2);
        p.write(zip, start, PREFIX.length - 4); // PROTO 2; GLOBAL collections.OrderedDict; BINPUT 0
        p.write('}'); // EMPTY_DICT instead of EMPTY_TUPLE REDUCE
        p.write(zip, start + PREFIX.length - 2, bodyEnd - (start + PREFIX.length - 2)); // BINPUT 1; the items
        p.write(0x86); // TUPLE2 (OrderedDict global, the dict)
        p.write('.');
        return p.toByteArray();
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
