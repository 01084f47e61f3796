//! A ZIP writer whose memory does not grow with the number of entries.
//!
//! The format puts the central directory (one record per entry: name, CRC, sizes, offset) at
//! the end of the file, so a writer must remember every entry until it finishes. General
//! purpose writers keep those records in memory (about 1.3 KB per entry with the `zip`
//! crate); this one appends each record to an anonymous temporary file as soon as the entry is
//! written and copies that file behind the data at the end. Entries are whole buffers (a
//! rendered PDF), so CRC and sizes are known before the local header is written: the output
//! needs no `Seek` and no data descriptors. ZIP64 records are written when the archive needs
//! them (more than 65 535 entries, or offsets past 4 GiB); single entries stay below 4 GiB.

use std::io::{self, Read, Seek, SeekFrom, Write};

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
const DEFLATED: u16 = 8;
/// 1980-01-01 00:00, the format's epoch: the archive is reproducible for the same content.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// Version 4.5 (ZIP64), made on Unix (the permission bits are in the external attributes).
const VERSION_ZIP64: u16 = 45;
const MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
const VERSION_DEFLATE: u16 = 20;
/// Regular file, rw-r--r--.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;

/// Streams deflated entries to `out`; see the module documentation.
pub struct ZipStream<W: Write> {
    out: CountingWriter<W>,
    /// Central directory records written so far, in entry order.
    directory: io::BufWriter<std::fs::File>,
    directory_len: u64,
    entries: u64,
    /// One compressor and one output buffer for every entry: a fresh compressor is some
    /// 300 KB of zeroed tables, and allocating them per entry cost page faults and zeroing
    /// (system time) on every notice of a bulk export.
    deflater: Deflater,
}

impl<W: Write> ZipStream<W> {
    /// A new archive writing to `out`; the central directory is kept in an anonymous
    /// temporary file (removed by the system when dropped).
    pub fn new(out: W) -> io::Result<Self> {
        Ok(Self {
            out: CountingWriter {
                inner: out,
                written: 0,
            },
            directory: io::BufWriter::new(tempfile::tempfile()?),
            directory_len: 0,
            entries: 0,
            deflater: Deflater::new(),
        })
    }

    /// Appends `data` as the deflated entry `name` (ASCII or UTF-8, no directories).
    pub fn add(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let compressed = self.deflater.deflate(data)?;
        let crc = crc32fast::hash(data);
        let too_big = || io::Error::other(format!("{name}: entry larger than 4 GiB"));
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        let compressed_size = u32::try_from(compressed.len()).map_err(|_| too_big())?;
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::other(format!("entry name too long: {name}")))?;
        let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
        let offset = self.out.written;

        let mut local = Vec::with_capacity(30 + name.len());
        put32(&mut local, LOCAL_HEADER);
        put16(&mut local, VERSION_DEFLATE);
        put16(&mut local, flags);
        put16(&mut local, DEFLATED);
        put16(&mut local, DOS_TIME);
        put16(&mut local, DOS_DATE);
        put32(&mut local, crc);
        put32(&mut local, compressed_size);
        put32(&mut local, size);
        put16(&mut local, name_len);
        put16(&mut local, 0);
        local.extend_from_slice(name.as_bytes());
        self.out.write_all(&local)?;
        self.out.write_all(compressed)?;

        // Past 4 GiB the offset moves to a ZIP64 extended-information field.
        let zip64_offset = offset >= u64::from(u32::MAX);
        let mut central = Vec::with_capacity(46 + name.len() + 12);
        put32(&mut central, CENTRAL_HEADER);
        put16(&mut central, MADE_BY);
        put16(
            &mut central,
            if zip64_offset {
                VERSION_ZIP64
            } else {
                VERSION_DEFLATE
            },
        );
        put16(&mut central, flags);
        put16(&mut central, DEFLATED);
        put16(&mut central, DOS_TIME);
        put16(&mut central, DOS_DATE);
        put32(&mut central, crc);
        put32(&mut central, compressed_size);
        put32(&mut central, size);
        put16(&mut central, name_len);
        put16(&mut central, if zip64_offset { 12 } else { 0 });
        put16(&mut central, 0); // comment
        put16(&mut central, 0); // disk number
        put16(&mut central, 0); // internal attributes
        put32(&mut central, EXTERNAL_ATTRIBUTES);
        put32(&mut central, u32::try_from(offset).unwrap_or(u32::MAX));
        central.extend_from_slice(name.as_bytes());
        if zip64_offset {
            put16(&mut central, 0x0001);
            put16(&mut central, 8);
            central.extend_from_slice(&offset.to_le_bytes());
        }
        self.directory.write_all(&central)?;
        self.directory_len += central.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// Number of entries added.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Writes the central directory and the end records; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let directory_offset = self.out.written;
        let mut directory = self.directory.into_inner().map_err(|e| e.into_error())?;
        directory.seek(SeekFrom::Start(0))?;
        let copied = io::copy(
            &mut (&mut directory).take(self.directory_len),
            &mut self.out,
        )?;
        if copied != self.directory_len {
            return Err(io::Error::other("central directory truncated"));
        }
        let mut end = Vec::with_capacity(56 + 20 + 22);
        let needs_zip64 = self.entries >= u64::from(u16::MAX)
            || directory_offset >= u64::from(u32::MAX)
            || self.directory_len >= u64::from(u32::MAX);
        if needs_zip64 {
            let zip64_end_offset = directory_offset + self.directory_len;
            put32(&mut end, ZIP64_END);
            end.extend_from_slice(&44u64.to_le_bytes());
            put16(&mut end, MADE_BY);
            put16(&mut end, VERSION_ZIP64);
            put32(&mut end, 0); // this disk
            put32(&mut end, 0); // disk with the directory
            end.extend_from_slice(&self.entries.to_le_bytes());
            end.extend_from_slice(&self.entries.to_le_bytes());
            end.extend_from_slice(&self.directory_len.to_le_bytes());
            end.extend_from_slice(&directory_offset.to_le_bytes());
            put32(&mut end, ZIP64_LOCATOR);
            put32(&mut end, 0);
            end.extend_from_slice(&zip64_end_offset.to_le_bytes());
            put32(&mut end, 1); // total disks
        }
        let entries16 = u16::try_from(self.entries).unwrap_or(u16::MAX);
        put32(&mut end, END);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, entries16);
        put16(&mut end, entries16);
        put32(
            &mut end,
            u32::try_from(self.directory_len).unwrap_or(u32::MAX),
        );
        put32(
            &mut end,
            u32::try_from(directory_offset).unwrap_or(u32::MAX),
        );
        put16(&mut end, 0); // comment
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

/// Raw deflate at level 6, reusing its state between entries.
struct Deflater {
    compressor: CompressorOxide,
    output: Vec<u8>,
}

impl Deflater {
    fn new() -> Self {
        Self {
            compressor: CompressorOxide::new(create_comp_flags_from_zip_params(6, 0, 0)),
            output: Vec::new(),
        }
    }

    /// `input` deflated (raw, no zlib wrapper); the slice lives until the next call.
    fn deflate(&mut self, mut input: &[u8]) -> io::Result<&[u8]> {
        self.compressor.reset();
        let Self { compressor, output } = self;
        if output.len() < 64 {
            output.resize(64, 0);
        }
        let mut out_pos = 0;
        loop {
            let (status, bytes_in, bytes_out) = compress(
                compressor,
                input,
                &mut output[out_pos..],
                TDEFLFlush::Finish,
            );
            out_pos += bytes_out;
            input = &input[bytes_in.min(input.len())..];
            match status {
                TDEFLStatus::Done => break,
                TDEFLStatus::Okay => {
                    if output.len() - out_pos < 64 {
                        output.resize(output.len() * 2, 0);
                    }
                }
                // Only for bad parameters or a compressor already finished; not expected.
                _ => return Err(io::Error::other(format!("deflate failed: {status:?}"))),
            }
        }
        Ok(&output[..out_pos])
    }
}

/// A file written once, front to back, that keeps little of itself in the page cache: every
/// [`DROP_WINDOW`] bytes it asks the kernel to start writing the last window back and to drop
/// the window before it (written back by then). Without it a 4 GB archive fills the page cache
/// as it grows and the machine reclaims memory for it (system time growing faster than the
/// archive). The advice is only advice: where the system ignores it nothing changes.
pub struct DropBehindFile {
    file: std::fs::File,
    written: u64,
    /// Writeback requested up to here.
    flushed: u64,
    /// Pages dropped up to here.
    dropped: u64,
}

/// Bytes between two pieces of advice.
const DROP_WINDOW: u64 = 32 << 20;

impl DropBehindFile {
    pub fn new(file: std::fs::File) -> Self {
        Self {
            file,
            written: 0,
            flushed: 0,
            dropped: 0,
        }
    }

    /// The file, for `sync_all`.
    pub fn into_inner(self) -> std::fs::File {
        self.file
    }

    fn advise(&self, from: u64, to: u64) {
        if let Some(len) = std::num::NonZeroU64::new(to - from) {
            // DONTNEED starts the writeback of dirty pages and drops the clean ones. An error
            // (a file system without page cache) only means the advice is not followed.
            let _ = rustix::fs::fadvise(&self.file, from, Some(len), rustix::fs::Advice::DontNeed);
        }
    }
}

impl Write for DropBehindFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.flushed >= DROP_WINDOW {
            self.advise(self.dropped, self.flushed);
            self.dropped = self.flushed;
            self.advise(self.flushed, self.written);
            self.flushed = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Counts bytes so entry offsets are known without `Seek`.
struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: Vec<u8>) -> zip::ZipArchive<io::Cursor<Vec<u8>>> {
        zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn entries_read_back_with_their_content() {
        let mut zip = ZipStream::new(Vec::new()).unwrap();
        zip.add("a.pdf", b"%PDF-1.7 first").unwrap();
        zip.add("b.pdf", &vec![b'x'; 100_000]).unwrap();
        zip.add("vuoto.txt", b"").unwrap();
        assert_eq!(zip.len(), 3);
        let mut archive = read_back(zip.finish().unwrap());
        assert_eq!(archive.len(), 3);
        let mut content = String::new();
        archive
            .by_name("a.pdf")
            .unwrap()
            .read_to_string(&mut content)
            .unwrap();
        assert_eq!(content, "%PDF-1.7 first");
        let mut big = Vec::new();
        let mut entry = archive.by_name("b.pdf").unwrap();
        assert!(entry.compressed_size() < 1_000);
        entry.read_to_end(&mut big).unwrap();
        assert_eq!(big, vec![b'x'; 100_000]);
    }

    #[test]
    fn a_file_written_through_drop_behind_reads_back_whole() {
        let file = tempfile::tempfile().unwrap();
        let mut out = DropBehindFile::new(file.try_clone().unwrap());
        // Past two windows, in pieces that do not divide them.
        let piece: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let pieces = (2 * DROP_WINDOW / piece.len() as u64 + 3) as usize;
        for _ in 0..pieces {
            out.write_all(&piece).unwrap();
        }
        out.flush().unwrap();
        out.into_inner().sync_all().unwrap();
        let mut back = Vec::new();
        let mut file = file;
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), piece.len() * pieces);
        assert!(back.chunks(piece.len()).all(|c| c == piece.as_slice()));
    }

    #[test]
    fn more_than_65535_entries_use_zip64_end_records() {
        let mut zip = ZipStream::new(Vec::new()).unwrap();
        for i in 0..70_000 {
            zip.add(&format!("{i}"), b"").unwrap();
        }
        let mut archive = read_back(zip.finish().unwrap());
        assert_eq!(archive.len(), 70_000);
        assert_eq!(archive.by_index(69_999).unwrap().name(), "69999");
    }
}
