package dev.falcon.io;

/**
 * A setting a log message of the library advises, by its two names: the Java one (what an embedder changes) and the
 * CLI's option. Passed as a parameter of the log record ({@code {0}} in its message): the message reads with the Java
 * name wherever the record is formatted as it is (JUL's formatters call {@link #toString()}), and the CLI, which prints
 * the library's warnings itself, puts its option there. A message written with the option alone told an embedder to
 * use "--backsolve exact", which no Java call takes.
 *
 * @param java the Java setting ("Backsolve.Mode.EXACT")
 * @param cli  the CLI option ("--backsolve exact")
 */
public record SettingName(String java, String cli) {
    @Override
    public String toString() { return java; }

    /**
     * A log record's parameters with each setting named by the CLI's option, the others as they are: the one conversion
     * of a library message into the CLI's words, for its stderr line and for what its report carries of it (a text
     * replace of one setting's Java name in the formatted message would miss a second setting and change the name where
     * the message used it as prose).
     */
    public static Object[] inCliWords(Object[] parameters) {
        if (parameters == null) return null;
        Object[] cli = parameters.clone();
        for (int i = 0; i < cli.length; i++) {
            if (cli[i] instanceof SettingName name) cli[i] = name.cli();
        }
        return cli;
    }
}
