# virtiosim on Debian 12, running the README's two commands. `make run` and `make check`
# install the Debian packages they need with apt-get (as root here) the first time.
#
#   docker build -t virtiosim .                      # builds, runs both commands
#   docker run --rm -v "$PWD/out:/src/out" virtiosim make run   # reports in ./out
FROM debian:12
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends make sudo ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rm -rf build out
# The README's two commands.
RUN make run
RUN make check
CMD ["make", "run"]
