package dev.falcon.backend;

/**
 * A setting the user gave for a backend (an environment variable its native side reads) that it cannot take. The
 * choice refuses it, automatic or named, rather than going around that backend to the next: the run would be a
 * different computation, the one the user did not ask for, without a word. Front ends report it as bad input (the
 * CLI: exit 2); the message names the setting, the accepted values and the fix.
 */
public class BackendSettingException extends IllegalArgumentException {
    public BackendSettingException(String message) {
        super(message);
    }
}
