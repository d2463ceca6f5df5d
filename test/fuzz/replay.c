/*
 * replay.c
 *	  Run a fuzz target once on every file of the directories (or files)
 *	  named on the command line, without libFuzzer: `make test` replays the
 *	  seed corpora and the kept crashers with gcc alone.
 *
 * Prints the number of inputs run; a violated property aborts, naming the
 * file first.
 */
#include "fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

static int	inputs = 0;

static void
run_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *data;
	long		size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
		fseek(f, 0, SEEK_SET) != 0)
	{
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(2);
	}
	/* exactly size bytes, as libFuzzer passes them */
	data = malloc(size > 0 ? size : 1);
	if (data == NULL || fread(data, 1, size, f) != (size_t) size)
	{
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	inputs++;
}

static void
run_path(const char *path)
{
	struct stat st;
	DIR		   *dir;
	struct dirent *e;

	if (stat(path, &st) != 0)
		return;					/* no kept crashers yet */
	if (!S_ISDIR(st.st_mode))
	{
		run_file(path);
		return;
	}
	dir = opendir(path);
	if (dir == NULL)
	{
		fprintf(stderr, "replay: cannot open %s\n", path);
		exit(2);
	}
	while ((e = readdir(dir)) != NULL)
	{
		char		child[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		run_path(child);
	}
	closedir(dir);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("%d inputs\n", inputs);
	return 0;
}
