package dev.falcon.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.channels.Pipe;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Tells the causes of I/O errors that the JDK gives no exception type of their own. It reports ENOSPC, EPIPE or
 * ENAMETOOLONG as a plain IOException or FileSystemException carrying the C library's text, and that text follows the
 * locale: under LANG=de_DE.UTF-8 a full disk is "Auf dem Gerät ist kein Speicherplatz mehr verfügbar", and a match
 * against the English text alone gave a German user the general fix. Each of these errors can be caused harmlessly: it
 * is caused once, where the English text does not match, and its text taken as this process's C library says it. The
 * English text still counts where that cannot be done (no /dev/full). EDQUOT, EROFS and EACCES (where it comes as a
 * text) cannot be caused so, and EPERM and EIO go with them: their texts are read from the C library's message catalog
 * for this process's locale (glibc's libc.mo, looked for as gettext looks), which is trusted only where it gives the
 * ENOSPC text this process's C library gave; a catalog not found, or another C library, leaves their English texts alone.
 */
final class SystemErrors {
    private SystemErrors() {}

    /** The longest path the system takes, with its terminating NUL (Linux's PATH_MAX). */
    static final int PATH_MAX_BYTES = 4096;

    private static volatile String noSpace, brokenPipe, nameTooLong;

    /** The reason an I/O error gives: a FileSystemException's without the file names, else the message. */
    static String reason(IOException e) {
        return e instanceof FileSystemException f ? f.getReason() : e.getMessage();
    }

    /** ENOSPC: the file system or the device is full. */
    static boolean isNoSpace(IOException e) {
        String reason = reason(e);
        if (reason == null) return false;
        return reason.equals(NO_SPACE) || reason.equals(noSpaceText());
    }

    private static final String NO_SPACE = "No space left on device";

    /** This process's C library's text for ENOSPC; "" where it cannot be caused. */
    private static String noSpaceText() {
        if (noSpace == null) noSpace = textOf(() -> {
            // /dev/full refuses every write with ENOSPC
            try (FileChannel full = FileChannel.open(Path.of("/dev/full"), StandardOpenOption.WRITE)) {
                full.write(ByteBuffer.wrap(new byte[1]));
            }
        });
        return noSpace;
    }

    private static final String QUOTA_EXCEEDED = "Disk quota exceeded", READ_ONLY = "Read-only file system",
            PERMISSION_DENIED = "Permission denied", NOT_PERMITTED = "Operation not permitted", IO_ERROR = "Input/output error";

    /** EDQUOT: this user's quota on the file system is used up. */
    static boolean isQuotaExceeded(IOException e) {
        return is(e, QUOTA_EXCEEDED);
    }

    /** EROFS: the file system is mounted read-only. */
    static boolean isReadOnlyFileSystem(IOException e) {
        return is(e, READ_ONLY);
    }

    /** EACCES given as a text (the JDK's own operations say it with an AccessDeniedException). */
    static boolean isPermissionDenied(IOException e) {
        return is(e, PERMISSION_DENIED);
    }

    /** EPERM: an operation that no permission of this user's allows (an immutable file, another user's in a sticky directory). */
    static boolean isNotPermitted(IOException e) {
        return is(e, NOT_PERMITTED);
    }

    /** EIO: the storage (or the device) reported an error. */
    static boolean isIoError(IOException e) {
        return is(e, IO_ERROR);
    }

    private static boolean is(IOException e, String english) {
        String reason = reason(e);
        if (reason == null) return false;
        return reason.equals(english) || reason.equals(translations().getOrDefault(english, ""));
    }

    /** The message catalog's texts for this process's locale, by their English text; empty where the C library's are English or unknown. */
    private static volatile Map<String, String> translations;

    private static Map<String, String> translations() {
        if (translations == null) translations = readTranslations(System.getenv(), noSpaceText());
        return translations;
    }

    /** Where glibc's catalogs are: LOCALEDIR/NAME/LC_MESSAGES/libc.mo. */
    private static final Path LOCALE_DIR = Path.of("/usr/share/locale");

    /**
     * The texts of the causes told here from the first catalog of the locale that {@code environment} names for messages
     * (as gettext looks for it) whose ENOSPC text is {@code noSpace}, the one this process's C library gave.
     */
    static Map<String, String> readTranslations(Map<String, String> environment, String noSpace) {
        if (noSpace.isEmpty() || noSpace.equals(NO_SPACE)) return Map.of();
        Set<String> wanted = Set.of(NO_SPACE, QUOTA_EXCEEDED, READ_ONLY, PERMISSION_DENIED, NOT_PERMITTED, IO_ERROR);
        for (String name : catalogNames(environment)) {
            try {
                Map<String, String> texts = readCatalog(LOCALE_DIR.resolve(name).resolve("LC_MESSAGES").resolve("libc.mo"), wanted);
                if (noSpace.equals(texts.get(NO_SPACE))) return texts;
            } catch (IOException | RuntimeException e) {
                // not this one (absent, unreadable, or not a catalog)
            }
        }
        return Map.of();
    }

    /**
     * The names gettext looks for a catalog under, most specific first: LANGUAGE's list (heeded only where the locale is
     * not C), then the locale of LC_ALL, LC_MESSAGES or LANG (the first set), each also without its codeset and
     * modifier, and without its territory.
     */
    static List<String> catalogNames(Map<String, String> environment) {
        String locale = null;
        for (String variable : List.of("LC_ALL", "LC_MESSAGES", "LANG")) {
            String value = environment.get(variable);
            if (value != null && !value.isEmpty()) {
                locale = value;
                break;
            }
        }
        if (locale == null || locale.equals("C") || locale.startsWith("C.") || locale.equals("POSIX")) return List.of();
        List<String> names = new ArrayList<>();
        String languages = environment.getOrDefault("LANGUAGE", "");
        for (String language : (languages.isEmpty() ? locale : languages + ":" + locale).split(":")) {
            if (language.isEmpty()) continue;
            names.add(language);
            String plain = language.replaceAll("[.@].*", "");
            names.add(plain);
            names.add(plain.replaceAll("_.*", ""));
        }
        return names.stream().distinct().filter(n -> !n.contains("/") && !n.contains("..")).toList();
    }

    /** A GNU .mo catalog's translations of the {@code wanted} texts, decoded with the charset its header names. */
    static Map<String, String> readCatalog(Path file, Set<String> wanted) throws IOException {
        if (Files.size(file) > (64 << 20)) return Map.of(); // libc's are a few hundred kB
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file));
        int magic = b.getInt(0);
        if (magic == 0xde120495) b.order(ByteOrder.LITTLE_ENDIAN);
        else if (magic != 0x950412de) return Map.of();
        int count = b.getInt(8), originals = b.getInt(12), translated = b.getInt(16);
        Charset charset = StandardCharsets.UTF_8;
        Map<String, String> texts = new HashMap<>();
        for (int i = 0; i < count; i++) {
            String original = string(b, originals + 8 * i, StandardCharsets.UTF_8);
            if (original.isEmpty()) {
                // the header: "...Content-Type: text/plain; charset=UTF-8\n..."
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("charset=([^\\s;]+)").matcher(string(b, translated + 8 * i, StandardCharsets.US_ASCII));
                if (m.find() && Charset.isSupported(m.group(1))) charset = Charset.forName(m.group(1));
            } else if (wanted.contains(original)) {
                texts.put(original, string(b, translated + 8 * i, charset));
            }
        }
        return texts;
    }

    /** The string whose length and offset are at {@code entry} of a catalog's table. */
    private static String string(ByteBuffer b, int entry, Charset charset) {
        int length = b.getInt(entry), offset = b.getInt(entry + 4);
        return new String(b.array(), offset, length, charset);
    }

    /** EPIPE: the reader of a pipe has gone. */
    static boolean isBrokenPipe(IOException e) {
        String reason = reason(e);
        if (reason == null) return false;
        if (reason.equals("Broken pipe")) return true;
        if (brokenPipe == null) brokenPipe = textOf(() -> {
            // the JVM ignores SIGPIPE, so a write into a pipe with no reader fails with EPIPE
            Pipe pipe = Pipe.open();
            pipe.source().close();
            try (Pipe.SinkChannel sink = pipe.sink()) {
                sink.write(ByteBuffer.wrap(new byte[1]));
            }
        });
        return reason.equals(brokenPipe);
    }

    /** ENAMETOOLONG: a name longer than its file system takes, or a path longer than the system takes. */
    static boolean isNameTooLong(IOException e) {
        if (e instanceof NoSuchFileException || e instanceof AccessDeniedException) return false;
        String reason = reason(e);
        if (reason == null) return false;
        if (reason.equals("File name too long")) return true;
        if (nameTooLong == null) nameTooLong = textOf(() -> {
            // every POSIX system refuses a path of PATH_MAX bytes, whatever its file systems take
            Files.readAttributes(Path.of("/" + "x".repeat(PATH_MAX_BYTES)), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        });
        return reason.equals(nameTooLong);
    }

    /**
     * Whether the file system refuses to look up {@code path} for the length of its last name (or of the whole path):
     * a lookup does not create anything, and the file system checks the name against its own limit, in its own units.
     */
    static boolean nameTooLongToLookUp(Path path) {
        try {
            Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            return false;
        } catch (IOException e) {
            return isNameTooLong(e);
        }
    }

    private interface Failing {
        void run() throws IOException;
    }

    /** The reason of the error the action fails with; "" (which no error's text equals) where it does not fail so. */
    private static String textOf(Failing action) {
        try {
            action.run();
        } catch (IOException e) {
            String reason = reason(e);
            if (reason != null) return reason;
        } catch (RuntimeException e) {
            // not on this platform
        }
        return "";
    }
}
