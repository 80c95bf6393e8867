/*
 * flbhost loads a Fluent Bit Go output plugin and makes the calls Fluent Bit makes, so the plugin
 * can be tested without Fluent Bit. The structures and call order follow Fluent Bit's
 * src/proxy/go/go.c and go.h and fluent-bit-go's output/flb_plugin.h and flb_output.h.
 *
 * Usage:
 *   flbhost PLUGIN.so [--no-ctx] [--instance [--prop KEY=VALUE]...]...
 *                     [--flush INSTANCE:TAG:FILE[:THREADS[:REPEAT]] | --sleep MS]...
 *
 *   --instance         starts the property list of the next [OUTPUT] instance (numbered from 0)
 *   --prop KEY=VALUE   sets a property of the last instance; keys match case-insensitively
 *   --flush ...        flushes the raw msgpack chunk in FILE with TAG to INSTANCE from THREADS
 *                      threads at once (default 1), each calling REPEAT times (default 1);
 *                      FILE must not contain ':'
 *   --sleep MS         waits MS milliseconds, for example to let the plugin's timers run
 *   --no-ctx           calls FLBPluginFlush and FLBPluginExit as hosts without the *Ctx calls do
 *
 * Every instance is initialized first, then the flush and sleep steps run in order, then the
 * instances are shut down. Result lines go to stdout, each starting with "host ":
 *   host register rc=0 type=2 proxy=11 name=natwatch
 *   host init 0 rc=1
 *   host flush step=0 instance=0 thread=0 call=0 rc=1 us=184
 *   host exit 0 rc=1
 *   host done
 * us is the flush call's duration in microseconds on CLOCK_MONOTONIC, measured around the call.
 * The exit status is 0 when every step ran, whatever the plugin returned, 1 when the plugin could
 * not be loaded or registered, and 2 for a usage error.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_INSTANCES 16
#define MAX_PROPS 64
#define MAX_STEPS 256
#define MAX_THREADS 64

/* The registration record that FLBPluginRegister fills. fluent-bit-go sets the first five members,
 * and Go plugins leave event_type and config_map zero. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

/* The callbacks Fluent Bit offers a Go plugin. fluent-bit-go calls only output_get_property. */
struct flb_api {
    char *(*output_get_property)(char *key, void *o_ins);
    char *(*input_get_property)(char *key, void *i_ins);
    void *(*output_get_cmt_instance)(void *o_ins);
    void *(*input_get_cmt_instance)(void *i_ins);
    void (*log_print)(int level, const char *file, int line, const char *fmt, ...);
    int (*input_log_check)(void *i_ins, int level);
    int (*output_log_check)(void *o_ins, int level);
    char *(*custom_get_property)(char *key, void *c_ins);
    int (*custom_log_check)(void *c_ins, int level);
};

/* An output instance's context. FLBPluginSetContext stores its key in remote_context. */
struct flb_plugin_proxy_context {
    void *remote_context;
    void *proxy;
};

/* The structure FLBPluginInit receives, as in Fluent Bit's src/proxy/go/go.h. */
struct flbgo_output_plugin {
    char *name;
    struct flb_api *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;

    int (*cb_init)(struct flbgo_output_plugin *);
    int (*cb_flush)(const void *, size_t, const char *);
    int (*cb_flush_ctx)(void *, const void *, size_t, char *);
    int (*cb_exit)(void);
    int (*cb_exit_ctx)(void *);
};

/* One [OUTPUT] section: its properties and, once initialized, its context. */
struct instance {
    int nprops;
    char *keys[MAX_PROPS];
    char *values[MAX_PROPS];
    struct flb_plugin_proxy_context *context;
    int ready;
};

enum step_kind { STEP_FLUSH, STEP_SLEEP };

struct step {
    enum step_kind kind;
    int instance;
    char *tag;
    char *file;
    int threads;
    int repeat;
    long sleep_ms;
};

struct flush_thread {
    struct step *step;
    int index;
    const char *data;
    size_t size;
    pthread_barrier_t *start;
    long *us; /* one duration in microseconds per call, step->repeat entries */
    int rc[]; /* one return code per call, step->repeat entries */
};

/* Returns the microseconds from a to b. */
static long elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000L;
}

static struct instance instances[MAX_INSTANCES];
static int ninstances;
static struct step steps[MAX_STEPS];
static int nsteps;
static int use_ctx = 1;
static struct flbgo_output_plugin plugin;

static void usage(void)
{
    fprintf(stderr,
            "usage: flbhost PLUGIN.so [--no-ctx] [--instance [--prop KEY=VALUE]...]...\n"
            "               [--flush INSTANCE:TAG:FILE[:THREADS[:REPEAT]] | --sleep MS]...\n");
    exit(2);
}

static void fail(const char *msg, const char *detail)
{
    fprintf(stderr, "flbhost: %s: %s\n", msg, detail ? detail : "");
    exit(1);
}

/* Returns the value of key for the instance o_ins, or NULL when it is not set. Like Fluent Bit, it
 * matches keys case-insensitively. */
static char *get_property(char *key, void *o_ins)
{
    struct instance *ins = o_ins;
    int i;

    for (i = 0; i < ins->nprops; i++) {
        if (strcasecmp(ins->keys[i], key) == 0) {
            return ins->values[i];
        }
    }
    return NULL;
}

static long parse_number(const char *text, const char *what)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 0) {
        fprintf(stderr, "flbhost: invalid %s %s\n", what, text);
        usage();
    }
    return n;
}

static void add_prop(char *arg)
{
    struct instance *ins;
    char *eq = strchr(arg, '=');

    if (ninstances == 0 || eq == NULL) {
        fprintf(stderr, "flbhost: --prop %s needs a preceding --instance and KEY=VALUE\n", arg);
        usage();
    }
    ins = &instances[ninstances - 1];
    if (ins->nprops == MAX_PROPS) {
        fail("too many properties", arg);
    }
    *eq = '\0';
    ins->keys[ins->nprops] = arg;
    ins->values[ins->nprops] = eq + 1;
    ins->nprops++;
}

static void add_flush(char *arg)
{
    struct step *s;
    char *fields[5] = {0};
    int n = 0;
    char *save = NULL;
    char *tok;

    if (nsteps == MAX_STEPS) {
        fail("too many steps", arg);
    }
    for (tok = strtok_r(arg, ":", &save); tok != NULL && n < 5; tok = strtok_r(NULL, ":", &save)) {
        fields[n++] = tok;
    }
    if (n < 3 || tok != NULL) {
        fprintf(stderr, "flbhost: --flush needs INSTANCE:TAG:FILE[:THREADS[:REPEAT]]\n");
        usage();
    }

    s = &steps[nsteps++];
    s->kind = STEP_FLUSH;
    s->instance = (int) parse_number(fields[0], "instance");
    s->tag = fields[1];
    s->file = fields[2];
    s->threads = n > 3 ? (int) parse_number(fields[3], "thread count") : 1;
    s->repeat = n > 4 ? (int) parse_number(fields[4], "repeat count") : 1;
    if (s->instance >= ninstances) {
        fprintf(stderr, "flbhost: --flush names instance %d, but only %d are defined before it\n",
                s->instance, ninstances);
        usage();
    }
    if (s->threads < 1 || s->threads > MAX_THREADS || s->repeat < 1) {
        fprintf(stderr, "flbhost: --flush needs 1 to %d threads and a repeat count of at least 1\n",
                MAX_THREADS);
        usage();
    }
}

static void parse_args(int argc, char **argv)
{
    int i;

    for (i = 2; i < argc; i++) {
        const char *opt = argv[i];
        int has_value = i + 1 < argc;

        if (strcmp(opt, "--no-ctx") == 0) {
            use_ctx = 0;
        }
        else if (strcmp(opt, "--instance") == 0) {
            if (ninstances == MAX_INSTANCES) {
                fail("too many instances", opt);
            }
            ninstances++;
        }
        else if (strcmp(opt, "--prop") == 0 && has_value) {
            add_prop(argv[++i]);
        }
        else if (strcmp(opt, "--flush") == 0 && has_value) {
            add_flush(argv[++i]);
        }
        else if (strcmp(opt, "--sleep") == 0 && has_value) {
            if (nsteps == MAX_STEPS) {
                fail("too many steps", opt);
            }
            steps[nsteps].kind = STEP_SLEEP;
            steps[nsteps].sleep_ms = parse_number(argv[++i], "sleep time");
            nsteps++;
        }
        else {
            fprintf(stderr, "flbhost: unknown or incomplete option %s\n", opt);
            usage();
        }
    }
}

static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fail("cannot read chunk file", path);
    }
    buf = malloc(len > 0 ? (size_t) len : 1);
    if (buf == NULL || fread(buf, 1, (size_t) len, f) != (size_t) len) {
        fail("cannot read chunk file", path);
    }
    fclose(f);
    *size = (size_t) len;
    return buf;
}

/* Runs one thread's share of a flush step. Like Fluent Bit, it passes a buffer and a tag copy that
 * are freed right after each call, and it overwrites the buffer first, so a plugin that keeps a
 * reference into either reads garbage. */
static void *flush_thread_main(void *arg)
{
    struct flush_thread *t = arg;
    struct step *s = t->step;
    struct instance *ins = &instances[s->instance];
    struct timespec started, ended;
    int call;

    pthread_barrier_wait(t->start);
    for (call = 0; call < s->repeat; call++) {
        char *data = malloc(t->size > 0 ? t->size : 1);
        char *tag = strdup(s->tag);

        if (data == NULL || tag == NULL) {
            fail("out of memory", s->file);
        }
        memcpy(data, t->data, t->size);

        clock_gettime(CLOCK_MONOTONIC, &started);
        if (use_ctx) {
            t->rc[call] = plugin.cb_flush_ctx(ins->context->remote_context, data, t->size, tag);
        }
        else {
            t->rc[call] = plugin.cb_flush(data, t->size, tag);
        }
        clock_gettime(CLOCK_MONOTONIC, &ended);
        t->us[call] = elapsed_us(&started, &ended);

        memset(data, 0xAA, t->size);
        memset(tag, 'X', strlen(tag));
        free(data);
        free(tag);
    }
    return NULL;
}

static void run_flush(int index, struct step *s)
{
    pthread_t ids[MAX_THREADS];
    struct flush_thread *threads[MAX_THREADS];
    pthread_barrier_t start;
    size_t size;
    char *data;
    int i, call;

    if (!instances[s->instance].ready) {
        printf("host flush step=%d instance=%d skipped=not-initialized\n", index, s->instance);
        return;
    }

    data = read_file(s->file, &size);
    pthread_barrier_init(&start, NULL, (unsigned) s->threads);
    for (i = 0; i < s->threads; i++) {
        threads[i] = calloc(1, sizeof(struct flush_thread) + sizeof(int) * (size_t) s->repeat);
        if (threads[i] == NULL) {
            fail("out of memory", s->file);
        }
        threads[i]->us = calloc((size_t) s->repeat, sizeof(long));
        if (threads[i]->us == NULL) {
            fail("out of memory", s->file);
        }
        threads[i]->step = s;
        threads[i]->index = i;
        threads[i]->data = data;
        threads[i]->size = size;
        threads[i]->start = &start;
        if (pthread_create(&ids[i], NULL, flush_thread_main, threads[i]) != 0) {
            fail("cannot start a flush thread", s->file);
        }
    }

    for (i = 0; i < s->threads; i++) {
        pthread_join(ids[i], NULL);
        for (call = 0; call < s->repeat; call++) {
            printf("host flush step=%d instance=%d thread=%d call=%d rc=%d us=%ld\n",
                   index, s->instance, i, call, threads[i]->rc[call], threads[i]->us[call]);
        }
        free(threads[i]->us);
        free(threads[i]);
    }
    pthread_barrier_destroy(&start);
    free(data);
}

static void run_sleep(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    printf("host sleep ms=%ld\n", ms);
}

int main(int argc, char **argv)
{
    static struct flb_api api = { .output_get_property = get_property };
    static struct flb_plugin_proxy_def def;
    int (*pre_register)(int);
    int (*cb_register)(struct flb_plugin_proxy_def *);
    int (*pre_run)(int);
    int (*pre_exit)(int);
    void (*cb_unregister)(struct flb_plugin_proxy_def *);
    void *lib;
    int i, rc;

    if (argc < 2) {
        usage();
    }
    parse_args(argc, argv);
    /* The plugin writes to the same stdout, so each result line must reach it in one write. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Load and register the library, as Fluent Bit does for `fluent-bit -e PLUGIN.so`. */
    lib = dlopen(argv[1], RTLD_LAZY);
    if (lib == NULL) {
        fail("dlopen failed", dlerror());
    }

    *(void **) &pre_register = dlsym(lib, "FLBPluginPreRegister");
    if (pre_register != NULL) {
        rc = pre_register(0);
        printf("host preregister rc=%d\n", rc);
        if (rc == -1) {
            fail("FLBPluginPreRegister returned -1", argv[1]);
        }
    }

    *(void **) &cb_register = dlsym(lib, "FLBPluginRegister");
    if (cb_register == NULL) {
        fail("symbol not found", "FLBPluginRegister");
    }
    rc = cb_register(&def);
    printf("host register rc=%d type=%d proxy=%d name=%s\n", rc, def.type, def.proxy,
           def.name ? def.name : "(null)");
    if (rc == -1 || def.type != 2 || def.proxy != 11 || def.name == NULL ||
        strcmp(def.name, "natwatch") != 0) {
        fail("registration does not describe the natwatch Go output plugin", argv[1]);
    }

    /* Resolve the entry points, as proxy_go_output_register does. */
    *(void **) &plugin.cb_init = dlsym(lib, "FLBPluginInit");
    *(void **) &plugin.cb_flush = dlsym(lib, "FLBPluginFlush");
    *(void **) &plugin.cb_flush_ctx = dlsym(lib, "FLBPluginFlushCtx");
    *(void **) &plugin.cb_exit = dlsym(lib, "FLBPluginExit");
    *(void **) &plugin.cb_exit_ctx = dlsym(lib, "FLBPluginExitCtx");
    *(void **) &cb_unregister = dlsym(lib, "FLBPluginUnregister");
    *(void **) &pre_run = dlsym(lib, "FLBPluginOutputPreRun");
    *(void **) &pre_exit = dlsym(lib, "FLBPluginOutputPreExit");
    if (plugin.cb_init == NULL) {
        fail("symbol not found", "FLBPluginInit");
    }
    if (!use_ctx || plugin.cb_flush_ctx == NULL) {
        plugin.cb_flush_ctx = NULL;
        use_ctx = 0;
    }
    if (!use_ctx && plugin.cb_flush == NULL) {
        fail("symbol not found", "FLBPluginFlush");
    }
    plugin.name = def.name;

    /* Initialize each instance through the one shared plugin structure, as
     * proxy_go_output_init does. */
    for (i = 0; i < ninstances; i++) {
        instances[i].context = calloc(1, sizeof(struct flb_plugin_proxy_context));
        if (instances[i].context == NULL) {
            fail("out of memory", "context");
        }
        plugin.api = &api;
        plugin.o_ins = &instances[i];
        plugin.context = instances[i].context;

        rc = plugin.cb_init(&plugin);
        instances[i].ready = rc > 0;
        printf("host init %d rc=%d\n", i, rc);
    }

    if (pre_run != NULL) {
        printf("host prerun rc=%d\n", pre_run(0));
    }

    for (i = 0; i < nsteps; i++) {
        if (steps[i].kind == STEP_FLUSH) {
            run_flush(i, &steps[i]);
        }
        else {
            run_sleep(steps[i].sleep_ms);
        }
    }

    /* Shut down each instance, as proxy_go_output_destroy does, then unregister once. */
    for (i = 0; i < ninstances; i++) {
        if (!instances[i].ready) {
            continue;
        }
        if (pre_exit != NULL) {
            printf("host preexit %d rc=%d\n", i, pre_exit(0));
        }
        if (use_ctx && plugin.cb_exit_ctx != NULL) {
            printf("host exit %d rc=%d\n", i, plugin.cb_exit_ctx(instances[i].context->remote_context));
        }
        else if (plugin.cb_exit != NULL) {
            printf("host exit %d rc=%d\n", i, plugin.cb_exit());
        }
    }

    if (cb_unregister != NULL) {
        cb_unregister(&def);
        printf("host unregister\n");
    }

    /* A Go c-shared library cannot be unloaded, so the library stays open. */
    printf("host done\n");
    return 0;
}
