package io.diffusion4j.scheduler;

import java.io.IOException;

/**
 * A {@code scheduler_config.json} that is missing, not JSON, or holds a value diffusion4j cannot use.
 * The message is one line naming the file and, where there is one, the offending key.
 */
public class SchedulerConfigException extends IOException {

    private static final long serialVersionUID = 1L;

    public SchedulerConfigException(String message) {
        super(message);
    }

    public SchedulerConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
